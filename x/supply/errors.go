package supply

import "github.com/medchain/medchain/module"

// Errors of the supply module (codespace "supply"). Every rejection of a
// capture names the event's index in the message and the EPC.
var (
	ErrInvalidMsg     = module.NewError(StoreName, 2, "invalid supply message")
	ErrUnauthorized   = module.NewError(StoreName, 3, "signer may not act for this organization")
	ErrUnknownOrg     = module.NewError(StoreName, 4, "organization not found or removed")
	ErrNotPrefixOwner = module.NewError(StoreName, 5, "organization does not own the GS1 company prefix")
	ErrProductExists  = module.NewError(StoreName, 6, "product registered with other details")
	ErrUnknownProduct = module.NewError(StoreName, 7, "product not registered")
	ErrUnknownEPC     = module.NewError(StoreName, 8, "unit not commissioned")
	ErrNotCustodian   = module.NewError(StoreName, 9, "organization is not the unit's custodian")
	ErrBadStatus      = module.NewError(StoreName, 10, "transition not allowed from the unit's status")
	ErrNoReceiver     = module.NewError(StoreName, 11, "shipment names no known receiving organization")
	ErrNoShipment     = module.NewError(StoreName, 12, "no pending shipment to this organization")
	ErrPacked         = module.NewError(StoreName, 13, "unit is packed in another container")
	ErrNotPacked      = module.NewError(StoreName, 14, "unit is not packed in this container")
	ErrRecalled       = module.NewError(StoreName, 15, "unit is recalled")
	ErrLotMismatch    = module.NewError(StoreName, 16, "lot data conflicts with the registered lot")
	ErrNotRecaller    = module.NewError(StoreName, 17, "only the product's owner or a regulator may recall it")
	ErrTooLarge       = module.NewError(StoreName, 18, "capture exceeds the module's limits")
	ErrDispensed      = module.NewError(StoreName, 19, "unit already dispensed")
)

func allErrors() []*module.Error {
	return []*module.Error{ErrInvalidMsg, ErrUnauthorized, ErrUnknownOrg, ErrNotPrefixOwner, ErrProductExists,
		ErrUnknownProduct, ErrUnknownEPC, ErrNotCustodian, ErrBadStatus, ErrNoReceiver, ErrNoShipment, ErrPacked,
		ErrNotPacked, ErrRecalled, ErrLotMismatch, ErrNotRecaller, ErrTooLarge, ErrDispensed}
}
