package node

import (
	"github.com/cometbft/cometbft/libs/log"

	"github.com/medchain/medchain/api"
	"github.com/medchain/medchain/app"
	"github.com/medchain/medchain/fhir"
	"github.com/medchain/medchain/vault"
)

// mountFHIR serves the FHIR R4 API (/fhir) of a node that has a vault.
func mountFHIR(srv *api.Server, a *app.App, v *vault.Service, logger log.Logger) error {
	h, err := fhir.New(fhir.Config{Vault: v, Chain: chainReader{a}, ChainID: a.ChainID(), Logger: logger})
	if err != nil {
		return err
	}
	for _, rt := range h.Routes() {
		srv.Mount(rt.Method, rt.Pattern, rt.Summary, rt.Handler)
	}
	logger.Info("FHIR API mounted", "path", "/fhir", "org", v.Org())
	return nil
}
