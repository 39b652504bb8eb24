// Package epcis reads GS1 EPCIS documents and computes GS1 CBV 2.0 event
// hashes. It is a pure library: no chain, network or clock.
//
// Three wire forms are read into one model (Document, Event):
//
//   - EPCIS 2.0 JSON / JSON-LD (EPCISDocument, EPCISQueryDocument; @context a
//     string, a list, or a list with namespace objects; user extensions kept),
//   - EPCIS 2.0 XML (urn:epcglobal:epcis:xsd:2, query documents too),
//   - EPCIS 1.2 XML (urn:epcglobal:epcis:xsd:1, with its <extension> and
//     <baseExtension> wrappers), what US pharma trading partners exchange.
//
// Every reader first builds the same neutral tree (Node), shaped like the
// XML data model whatever the input syntax; validation, the typed Event and
// the canonical event hash (Hash, "ni:///sha-256;…?ver=CBV2.0") are all
// computed from that tree, so a JSON and an XML rendering of one event give
// the same Event and the same hash.
//
// Parse never panics on any input (fuzzed: FuzzParse). A document that is
// not valid EPCIS returns a *ValidationError listing every problem with the
// event index, the field and the reason.
//
// Identifiers: EPC pure-identity URNs (SGTIN, SSCC, SGLN, PGLN, GRAI, GIAI,
// GSRN, GDTI, ..., LGTIN and idpat classes) and GS1 Digital Link URIs are
// both accepted. CanonicalDL gives the constrained canonical Digital Link the
// event hash uses; ToURN converts a Digital Link back to a URN when the GS1
// Company Prefix length is known from a PrefixResolver (see the README).
//
// Numbers are never floats: quantities stay decimal text, sensor values are
// parsed into thousandths (ParseMilli) and Fahrenheit/Kelvin temperatures are
// converted to Celsius with integer arithmetic.
package epcis
