package epcis

import "strings"

// CBV 2.0 vocabularies (the enumerations of the EPCIS 2.0 JSON schema).
var (
	BizSteps = setOf("accepting", "arriving", "assembling", "collecting", "commissioning", "consigning",
		"creating_class_instance", "cycle_counting", "decommissioning", "departing", "destroying", "disassembling",
		"dispensing", "encoding", "entering_exiting", "holding", "inspecting", "installing", "killing", "loading",
		"other", "packing", "picking", "receiving", "removing", "repackaging", "repairing", "replacing", "reserving",
		"retail_selling", "shipping", "staging_outbound", "stock_taking", "stocking", "storing", "transporting",
		"unloading", "unpacking", "void_shipping", "sensor_reporting", "sampling")
	Dispositions = setOf("active", "container_closed", "damaged", "destroyed", "dispensed", "disposed", "encoded",
		"expired", "in_progress", "in_transit", "inactive", "no_pedigree_match", "non_sellable_other",
		"partially_dispensed", "recalled", "reserved", "retail_sold", "returned", "sellable_accessible",
		"sellable_not_accessible", "stolen", "unknown", "available", "completeness_verified", "completeness_inferred",
		"conformant", "container_open", "mismatch_instance", "mismatch_class", "mismatch_quantity",
		"needs_replacement", "non_conformant", "unavailable")
	BizTransactionTypes = setOf("bol", "cert", "desadv", "inv", "pedigree", "po", "poc", "prodorder", "recadv",
		"rma", "testprd", "testres", "upevt")
	SourceDestTypes = setOf("owning_party", "possessing_party", "location")
	ErrorReasons    = setOf("did_not_occur", "incorrect_data")
)

func setOf(words ...string) map[string]bool {
	m := make(map[string]bool, len(words))
	for _, w := range words {
		m[w] = true
	}
	return m
}

// vocab describes the forms one CBV vocabulary's terms may take.
type vocab struct {
	urn   string // "urn:epcglobal:cbv:bizstep:"
	web   string // "BizStep-" (after https://ref.gs1.org/cbv/)
	terms map[string]bool
}

var (
	vocabBizStep     = vocab{"urn:epcglobal:cbv:bizstep:", "BizStep-", BizSteps}
	vocabDisposition = vocab{"urn:epcglobal:cbv:disp:", "Disp-", Dispositions}
	vocabBTT         = vocab{"urn:epcglobal:cbv:btt:", "BTT-", BizTransactionTypes}
	vocabSDT         = vocab{"urn:epcglobal:cbv:sdt:", "SDT-", SourceDestTypes}
	vocabER          = vocab{"urn:epcglobal:cbv:er:", "ER-", ErrorReasons}
)

// short maps a CBV term in any of its forms (urn:epcglobal:cbv:bizstep:x,
// https://ref.gs1.org/cbv/BizStep-x, https://gs1.org/voc/BizStep-x,
// cbv:BizStep-x, bare x) to the short name x. A URI outside the CBV is
// returned unchanged (a user vocabulary); ok is false for a CBV-looking
// value whose term is unknown, or a bare word that is not a CBV term.
func (v vocab) short(s string) (string, bool) {
	if strings.HasPrefix(s, v.urn) {
		t := s[len(v.urn):]
		return t, v.terms[t]
	}
	for _, base := range []string{"https://ref.gs1.org/cbv/", "http://ref.gs1.org/cbv/", "https://gs1.org/voc/",
		"http://gs1.org/voc/", "https://ns.gs1.org/cbv/", "https://ns.gs1.org/voc/", "cbv:", "gs1:"} {
		if strings.HasPrefix(s, base) {
			rest := s[len(base):]
			if strings.HasPrefix(strings.ToLower(rest), strings.ToLower(v.web)) {
				t := rest[len(v.web):]
				return t, v.terms[t]
			}
			// Another term in a GS1 namespace: a URI, accepted as a user
			// vocabulary value (the schema only bars unknown urn:epcglobal:cbv terms).
			return s, true
		}
	}
	if strings.HasPrefix(s, "urn:epcglobal:cbv:") {
		return s, false
	}
	if !strings.Contains(s, ":") {
		return s, v.terms[s]
	}
	return s, true
}

// ShortBizStep returns the CBV short name of a business step ("shipping"
// for urn:epcglobal:cbv:bizstep:shipping, https://ref.gs1.org/cbv/BizStep-shipping
// or shipping); non-CBV URIs are returned as they are.
func ShortBizStep(s string) (string, bool) { return vocabBizStep.short(s) }

// ShortDisposition is ShortBizStep for dispositions.
func ShortDisposition(s string) (string, bool) { return vocabDisposition.short(s) }

// shortSensorType reduces gs1:Temperature, gs1:MT-Temperature,
// https://gs1.org/voc/MT-Temperature and Temperature to "Temperature".
func shortSensorType(s string) string {
	for _, p := range []string{"https://gs1.org/voc/", "http://gs1.org/voc/", "https://ref.gs1.org/voc/", "gs1:"} {
		if strings.HasPrefix(s, p) {
			s = s[len(p):]
			break
		}
	}
	return strings.TrimPrefix(s, "MT-")
}
