package fhir

import (
	"regexp"
	"slices"
	"strings"
)

// typeInfo says where a resource type keeps what the server needs: the
// reference to the patient it is about, and the elements the code,
// category and date search parameters match (following the R4 search
// parameter definitions of those names).
type typeInfo struct {
	patient  []string // elements referencing the patient (Reference or list of them)
	code     []string // CodeableConcept elements matched by "code"
	category []string // elements matched by "category" (CodeableConcept(s) or codes)
	date     []string // date, dateTime, instant or Period elements matched by "date"
}

// types are the resource types stored as patient records: the R4 patient
// compartment (less the types whose link to the patient is not a single
// top-level reference, and AuditEvent, which the chain writes).
var types = map[string]typeInfo{
	"Account":                     {patient: []string{"subject"}},
	"AdverseEvent":                {patient: []string{"subject"}, date: []string{"date"}},
	"Appointment":                 {patient: []string{"participant.actor"}},
	"AppointmentResponse":         {patient: []string{"actor"}},
	"AllergyIntolerance":          {patient: []string{"patient"}, code: []string{"code"}, category: []string{"category"}, date: []string{"recordedDate"}},
	"Basic":                       {patient: []string{"subject"}, code: []string{"code"}},
	"BodyStructure":               {patient: []string{"patient"}},
	"CarePlan":                    {patient: []string{"subject"}, category: []string{"category"}, date: []string{"period"}},
	"CareTeam":                    {patient: []string{"subject"}, category: []string{"category"}, date: []string{"period"}},
	"ChargeItem":                  {patient: []string{"subject"}, code: []string{"code"}},
	"Claim":                       {patient: []string{"patient"}},
	"ClaimResponse":               {patient: []string{"patient"}},
	"ClinicalImpression":          {patient: []string{"subject"}, date: []string{"date"}},
	"Communication":               {patient: []string{"subject"}, category: []string{"category"}},
	"CommunicationRequest":        {patient: []string{"subject"}, category: []string{"category"}},
	"Composition":                 {patient: []string{"subject"}, category: []string{"category"}, date: []string{"date"}},
	"Condition":                   {patient: []string{"subject"}, code: []string{"code"}, category: []string{"category"}},
	"Consent":                     {patient: []string{"patient"}, category: []string{"category"}, date: []string{"dateTime"}},
	"Contract":                    {patient: []string{"subject"}},
	"Coverage":                    {patient: []string{"beneficiary"}},
	"CoverageEligibilityRequest":  {patient: []string{"patient"}},
	"CoverageEligibilityResponse": {patient: []string{"patient"}},
	"DetectedIssue":               {patient: []string{"patient"}, code: []string{"code"}},
	"Device":                      {patient: []string{"patient"}},
	"DeviceRequest":               {patient: []string{"subject"}, code: []string{"codeCodeableConcept"}},
	"DeviceUseStatement":          {patient: []string{"subject"}},
	"DiagnosticReport":            {patient: []string{"subject"}, code: []string{"code"}, category: []string{"category"}, date: []string{"effectiveDateTime", "effectivePeriod"}},
	"DocumentManifest":            {patient: []string{"subject"}},
	"DocumentReference":           {patient: []string{"subject"}, category: []string{"category"}, date: []string{"date"}},
	"Encounter":                   {patient: []string{"subject"}, date: []string{"period"}},
	"EpisodeOfCare":               {patient: []string{"patient"}, date: []string{"period"}},
	"ExplanationOfBenefit":        {patient: []string{"patient"}},
	"FamilyMemberHistory":         {patient: []string{"patient"}, code: []string{"condition.code"}, date: []string{"date"}},
	"EnrollmentRequest":           {patient: []string{"candidate"}},
	"Flag":                        {patient: []string{"subject"}, date: []string{"period"}},
	"GuidanceResponse":            {patient: []string{"subject"}},
	"Goal":                        {patient: []string{"subject"}, category: []string{"category"}},
	"ImagingStudy":                {patient: []string{"subject"}},
	"Immunization":                {patient: []string{"patient"}, date: []string{"occurrenceDateTime"}},
	"ImmunizationEvaluation":      {patient: []string{"patient"}, date: []string{"date"}},
	"ImmunizationRecommendation":  {patient: []string{"patient"}, date: []string{"date"}},
	"Invoice":                     {patient: []string{"subject"}},
	"List":                        {patient: []string{"subject"}, code: []string{"code"}, date: []string{"date"}},
	"MeasureReport":               {patient: []string{"subject"}, date: []string{"date"}},
	"Media":                       {patient: []string{"subject"}},
	"MedicationAdministration":    {patient: []string{"subject"}, code: []string{"medicationCodeableConcept"}},
	"MedicationDispense":          {patient: []string{"subject"}, code: []string{"medicationCodeableConcept"}},
	"MedicationRequest":           {patient: []string{"subject"}, code: []string{"medicationCodeableConcept"}, category: []string{"category"}},
	"MedicationStatement":         {patient: []string{"subject"}, code: []string{"medicationCodeableConcept"}, category: []string{"category"}},
	"MolecularSequence":           {patient: []string{"patient"}},
	"NutritionOrder":              {patient: []string{"patient"}},
	"Observation":                 {patient: []string{"subject"}, code: []string{"code"}, category: []string{"category"}, date: []string{"effectiveDateTime", "effectivePeriod", "effectiveInstant"}},
	"Patient":                     {},
	"Procedure":                   {patient: []string{"subject"}, code: []string{"code"}, category: []string{"category"}, date: []string{"performedDateTime", "performedPeriod"}},
	"Provenance":                  {},
	"QuestionnaireResponse":       {patient: []string{"subject"}},
	"RelatedPerson":               {patient: []string{"patient"}},
	"RequestGroup":                {patient: []string{"subject"}, code: []string{"code"}},
	"ResearchSubject":             {patient: []string{"individual"}},
	"RiskAssessment":              {patient: []string{"subject"}, date: []string{"occurrenceDateTime"}},
	"ServiceRequest":              {patient: []string{"subject"}, code: []string{"code"}, category: []string{"category"}},
	"Specimen":                    {patient: []string{"subject"}},
	"SupplyDelivery":              {patient: []string{"patient"}},
	"Task":                        {patient: []string{"for"}, code: []string{"code"}},
	"VisionPrescription":          {patient: []string{"patient"}},
}

// chainManaged are the types the chain itself answers for (Consent: the
// on-chain consents; AuditEvent: the access events).
var chainManaged = []string{"AuditEvent", "Consent"}

// r4Types are the R4 resource types that are not patient records, so an
// unsupported type is told apart from a misspelt one.
var r4Types = strings.Fields(`ActivityDefinition AuditEvent Binary
	BiologicallyDerivedProduct Bundle CapabilityStatement CatalogEntry ChargeItemDefinition CodeSystem
	CompartmentDefinition ConceptMap DeviceDefinition DeviceMetric EffectEvidenceSynthesis Endpoint
	EnrollmentResponse EventDefinition Evidence EvidenceVariable ExampleScenario
	GraphDefinition Group HealthcareService ImplementationGuide InsurancePlan Library
	Linkage Location Measure Medication MedicationKnowledge MedicinalProduct
	MedicinalProductAuthorization MedicinalProductContraindication MedicinalProductIndication
	MedicinalProductIngredient MedicinalProductInteraction MedicinalProductManufactured
	MedicinalProductPackaged MedicinalProductPharmaceutical MedicinalProductUndesirableEffect
	MessageDefinition MessageHeader NamingSystem ObservationDefinition OperationDefinition
	OperationOutcome Organization OrganizationAffiliation Parameters Person PlanDefinition Practitioner
	PractitionerRole PaymentNotice PaymentReconciliation Questionnaire ResearchDefinition ResearchElementDefinition ResearchStudy RiskEvidenceSynthesis
	Schedule SearchParameter Slot SpecimenDefinition StructureDefinition StructureMap
	Subscription Substance SubstanceNucleicAcid SubstancePolymer SubstanceProtein
	SubstanceReferenceInformation SubstanceSourceMaterial SubstanceSpecification SupplyRequest
	TerminologyCapabilities TestReport TestScript ValueSet VerificationResult`)

func isR4Type(t string) bool {
	_, ok := types[t]
	return ok || slices.Contains(r4Types, t)
}

// sortedTypes returns the stored types in name order.
func sortedTypes() []string {
	out := make([]string, 0, len(types))
	for t := range types {
		out = append(out, t)
	}
	slices.Sort(out)
	return out
}

// Category codes go on chain with a record's anchor, so only codes from
// coarse, public vocabularies are used; anything else leaves the category
// empty.
var categorySystems = map[string]bool{
	"http://terminology.hl7.org/CodeSystem/observation-category":                true,
	"http://terminology.hl7.org/CodeSystem/condition-category":                  true,
	"http://hl7.org/fhir/us/core/CodeSystem/condition-category":                 true,
	"http://terminology.hl7.org/CodeSystem/medicationrequest-category":          true,
	"http://terminology.hl7.org/CodeSystem/medication-statement-category":       true,
	"http://terminology.hl7.org/CodeSystem/v2-0074":                             true,
	"http://hl7.org/fhir/us/core/CodeSystem/us-core-documentreference-category": true,
}

var allergyCategories = []string{"biologic", "environment", "food", "medication"}

var chainCategoryPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,62}$`)

// chainCategory returns the record category anchored on chain for a
// resource ("" when it has none from a known vocabulary).
func chainCategory(typ string, res map[string]any) string {
	for _, f := range types[typ].category {
		for _, v := range asList(res[f]) {
			if s, ok := v.(string); ok && typ == "AllergyIntolerance" && slices.Contains(allergyCategories, s) {
				return s
			}
			cc, _ := v.(map[string]any)
			for _, c := range asList(cc["coding"]) {
				cm, _ := c.(map[string]any)
				sys, _ := cm["system"].(string)
				code, _ := cm["code"].(string)
				code = strings.ToLower(code)
				if categorySystems[sys] && chainCategoryPattern.MatchString(code) {
					return code
				}
			}
		}
	}
	return ""
}

// asList returns v as a list: itself if it is one, else a one-element list
// (or nil for nil).
func asList(v any) []any {
	switch x := v.(type) {
	case nil:
		return nil
	case []any:
		return x
	default:
		return []any{x}
	}
}

// path returns the values at a dotted element path (lists flattened).
func path(res map[string]any, p string) []any {
	cur := []any{res}
	for _, seg := range strings.Split(p, ".") {
		var next []any
		for _, c := range cur {
			m, ok := c.(map[string]any)
			if !ok {
				continue
			}
			next = append(next, asList(m[seg])...)
		}
		cur = next
	}
	return cur
}
