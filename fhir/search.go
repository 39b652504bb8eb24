package fhir

import (
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/medchain/medchain/x/identity"
	"github.com/medchain/medchain/x/records"
)

// Paging.
const (
	defaultCount = 50
	maxCount     = 1000
)

// query is a parsed search.
type query struct {
	patient     string
	ids         []string
	lastUpdated [][]dateParam // AND of ORs
	code        [][]token
	category    [][]token
	date        [][]dateParam
	types       []string // $everything _type
	count       int
	offset      int
}

type token struct {
	system, code string
	anySystem    bool
}

// dateParam is a prefix and the range [lo, hi) its value denotes.
type dateParam struct {
	prefix string
	lo, hi time.Time
}

// ignoredParams are accepted and have no effect on results.
var ignoredParams = []string{"_format", "_pretty", "_purpose"}

// parseQuery parses the search parameters of r; allowed are the names this
// search supports beyond paging.
func parseQuery(r *http.Request, typ string, allowed []string) (*query, error) {
	q := &query{count: defaultCount}
	for key, vals := range r.URL.Query() {
		name, mod, _ := strings.Cut(key, ":")
		if slices.Contains(ignoredParams, name) {
			continue
		}
		if !slices.Contains(allowed, name) && name != "_count" && name != "_offset" {
			sort.Strings(allowed)
			return nil, badRequest("search parameter %q is not supported for %s; supported: %s, _count, _offset", clip(key, 40), typ, strings.Join(allowed, ", "))
		}
		if mod != "" && !((name == "patient" || name == "subject") && mod == "Patient") {
			return nil, badRequest("modifier :%s of %s is not supported", clip(mod, 20), name)
		}
		for _, v := range vals {
			if err := q.add(name, v, typ); err != nil {
				return nil, err
			}
		}
	}
	return q, nil
}

func (q *query) add(name, v, typ string) error {
	switch name {
	case "patient", "subject":
		did := searchPatient(v)
		if did == "" {
			return badRequest("%s=%q does not name a medchain patient (Patient/<id>, <id> or the DID)", name, clip(v, 80))
		}
		if q.patient != "" && q.patient != did {
			return badRequest("a search covers one patient")
		}
		q.patient = did
	case "_id":
		for _, id := range strings.Split(v, ",") {
			if id = strings.TrimSpace(id); id != "" {
				q.ids = append(q.ids, id)
			}
		}
		if typ == "Patient" && len(q.ids) > 0 {
			did := patientDID(q.ids[0])
			if did == "" || (q.patient != "" && q.patient != did) {
				return badRequest("Patient _id must be the method-specific id of one patient's DID")
			}
			q.patient = did
		}
	case "_lastUpdated", "date", "_since":
		var ors []dateParam
		for _, s := range strings.Split(v, ",") {
			d, err := parseDateParam(s)
			if err != nil {
				return err
			}
			if name == "_since" {
				d.prefix = "ge"
			}
			ors = append(ors, d)
		}
		if name == "date" {
			q.date = append(q.date, ors)
		} else {
			q.lastUpdated = append(q.lastUpdated, ors)
		}
	case "code", "category":
		var ors []token
		for _, s := range strings.Split(v, ",") {
			t := token{anySystem: true, code: s}
			if sys, code, ok := strings.Cut(s, "|"); ok {
				t = token{system: sys, code: code}
			}
			ors = append(ors, t)
		}
		if name == "code" {
			q.code = append(q.code, ors)
		} else {
			q.category = append(q.category, ors)
		}
	case "_type":
		for _, t := range strings.Split(v, ",") {
			if _, ok := types[t]; !ok {
				return badRequest("_type %q is not a stored resource type", clip(t, 64))
			}
			q.types = append(q.types, t)
		}
	case "_count":
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return badRequest("_count must be a non-negative integer")
		}
		q.count = min(n, maxCount)
	case "_offset":
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return badRequest("_offset must be a non-negative integer")
		}
		q.offset = n
	}
	return nil
}

// searchPatient reads a patient search value: Patient/<id>, <id>, the DID,
// or an absolute URL ending in Patient/<id>.
func searchPatient(v string) string {
	if identity.ValidDID(v) {
		return v
	}
	if did, ok := refPatient(map[string]any{"reference": v}); ok {
		return did
	}
	return patientDID(v)
}

// Date handling. A FHIR date, dateTime or instant denotes the range of its
// precision: "2020" is all of 2020. Values without a time zone are UTC.
var dateRE = regexp.MustCompile(`^(\d{4})(?:-(\d{2})(?:-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(\.\d+)?)?(Z|[+-]\d{2}:\d{2})?)?)?)?$`)

func parseRange(s string) (lo, hi time.Time, ok bool) {
	m := dateRE.FindStringSubmatch(s)
	if m == nil {
		return time.Time{}, time.Time{}, false
	}
	atoi := func(x string, def int) int {
		if x == "" {
			return def
		}
		n, _ := strconv.Atoi(x)
		return n
	}
	loc := time.UTC
	if tz := m[8]; tz != "" && tz != "Z" {
		t, err := time.Parse("-07:00", tz)
		if err != nil {
			return time.Time{}, time.Time{}, false
		}
		loc = t.Location()
	}
	frac := 0
	if m[7] != "" {
		f, _ := strconv.ParseFloat("0"+m[7], 64)
		frac = int(f * 1e9)
	}
	y, mo, d := atoi(m[1], 0), atoi(m[2], 1), atoi(m[3], 1)
	if mo < 1 || mo > 12 || d < 1 || d > 31 {
		return time.Time{}, time.Time{}, false
	}
	hh, mm, ss := atoi(m[4], 0), atoi(m[5], 0), atoi(m[6], 0)
	if hh > 23 || mm > 59 || ss > 59 {
		return time.Time{}, time.Time{}, false
	}
	lo = time.Date(y, time.Month(mo), d, hh, mm, ss, frac, loc)
	if lo.Day() != d { // February 30 and the like
		return time.Time{}, time.Time{}, false
	}
	switch {
	case m[2] == "":
		hi = lo.AddDate(1, 0, 0)
	case m[3] == "":
		hi = lo.AddDate(0, 1, 0)
	case m[4] == "":
		hi = lo.AddDate(0, 0, 1)
	case m[6] == "":
		hi = lo.Add(time.Minute)
	case m[7] == "":
		hi = lo.Add(time.Second)
	default:
		hi = lo.Add(time.Millisecond)
	}
	return lo, hi, true
}

var datePrefixes = []string{"eq", "ne", "gt", "lt", "ge", "le", "sa", "eb", "ap"}

func parseDateParam(s string) (dateParam, error) {
	d := dateParam{prefix: "eq"}
	if len(s) > 2 && slices.Contains(datePrefixes, s[:2]) {
		d.prefix, s = s[:2], s[2:]
	}
	lo, hi, ok := parseRange(s)
	if !ok {
		return d, badRequest("date %q: use [prefix]YYYY[-MM[-DD[Thh:mm[:ss][zone]]]]", clip(s, 40))
	}
	d.lo, d.hi = lo, hi
	return d, nil
}

var (
	minTime = time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC)
	maxTime = time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC)
)

// matches reports whether a target range satisfies the parameter (FHIR R4
// search, 3.1.1.4.2: the prefix compares the parameter's range with the
// target's).
func (d dateParam) matches(lo, hi time.Time) bool {
	eq := !lo.Before(d.lo) && !hi.After(d.hi)
	switch d.prefix {
	case "eq":
		return eq
	case "ne":
		return !eq
	case "gt":
		return hi.After(d.hi)
	case "lt":
		return lo.Before(d.lo)
	case "ge":
		return hi.After(d.hi) || eq
	case "le":
		return lo.Before(d.lo) || eq
	case "sa":
		return !lo.Before(d.hi)
	case "eb":
		return !hi.After(d.lo)
	case "ap":
		return lo.Before(d.hi) && hi.After(d.lo)
	}
	return false
}

// targetRanges returns the ranges of a resource's date elements.
func targetRanges(res map[string]any, fields []string) [][2]time.Time {
	var out [][2]time.Time
	for _, f := range fields {
		for _, v := range path(res, f) {
			switch x := v.(type) {
			case string:
				if lo, hi, ok := parseRange(x); ok {
					out = append(out, [2]time.Time{lo, hi})
				}
			case map[string]any: // Period
				lo, hi := minTime, maxTime
				if s, _ := x["start"].(string); s != "" {
					lo, _, _ = parseRange(s)
				}
				if s, _ := x["end"].(string); s != "" {
					_, hi, _ = parseRange(s)
				}
				if !lo.IsZero() && !hi.IsZero() {
					out = append(out, [2]time.Time{lo, hi})
				}
			}
		}
	}
	return out
}

func matchDates(params [][]dateParam, ranges [][2]time.Time) bool {
	for _, ors := range params {
		ok := false
		for _, p := range ors {
			for _, r := range ranges {
				if p.matches(r[0], r[1]) {
					ok = true
				}
			}
		}
		if !ok {
			return false
		}
	}
	return true
}

// matchTokens checks token parameters against CodeableConcepts, Codings or
// codes at the given elements.
func matchTokens(params [][]token, res map[string]any, fields []string) bool {
	if len(params) == 0 {
		return true
	}
	type coding struct{ system, code string }
	var codes []coding
	for _, f := range fields {
		for _, v := range path(res, f) {
			switch x := v.(type) {
			case string:
				codes = append(codes, coding{code: x})
			case map[string]any:
				if c, ok := x["code"].(string); ok {
					s, _ := x["system"].(string)
					codes = append(codes, coding{s, c})
				}
				for _, cd := range asList(x["coding"]) {
					m, _ := cd.(map[string]any)
					s, _ := m["system"].(string)
					c, _ := m["code"].(string)
					codes = append(codes, coding{s, c})
				}
			}
		}
	}
	for _, ors := range params {
		ok := false
		for _, t := range ors {
			for _, c := range codes {
				if (t.anySystem || t.system == c.system) && (t.code == "" || t.code == c.code) {
					ok = true
				}
			}
		}
		if !ok {
			return false
		}
	}
	return true
}

// filterAnchors applies the parameters the chain's anchors answer (_id,
// _lastUpdated), before anything is requested.
func (q *query) filterAnchors(as []*records.Anchor) []*records.Anchor {
	var out []*records.Anchor
	for _, a := range as {
		if len(q.ids) > 0 && a.ResourceType != "Patient" && !slices.Contains(q.ids, a.ID) {
			continue
		}
		if len(q.types) > 0 && !slices.Contains(q.types, a.ResourceType) {
			continue
		}
		u := a.Updated.Truncate(time.Millisecond)
		if !matchDates(q.lastUpdated, [][2]time.Time{{u, u.Add(time.Millisecond)}}) {
			continue
		}
		out = append(out, a)
	}
	return out
}

// matchResource applies the parameters only the content answers.
func (q *query) matchResource(typ string, res map[string]any) bool {
	ti := types[typ]
	return matchTokens(q.code, res, ti.code) && matchTokens(q.category, res, ti.category) &&
		matchDates(q.date, targetRanges(res, ti.date))
}

// searchParams returns the search parameters a type supports.
func searchParams(typ string) []string {
	ti := types[typ]
	p := []string{"patient", "_id", "_lastUpdated"}
	if len(ti.patient) == 1 && ti.patient[0] == "subject" {
		p = append(p, "subject")
	}
	if len(ti.code) > 0 {
		p = append(p, "code")
	}
	if len(ti.category) > 0 {
		p = append(p, "category")
	}
	if len(ti.date) > 0 {
		p = append(p, "date")
	}
	return p
}

// entry is one resource of a result Bundle.
type entry struct {
	typ, id string
	res     map[string]any
	updated time.Time
	mode    string // match, include, outcome
}

// searchBundle renders a page of a searchset.
func searchBundle(r *http.Request, path string, all []entry, q *query, extra []entry) map[string]any {
	base := baseURL(r)
	total := len(all)
	lo := min(q.offset, total)
	hi := min(lo+q.count, total)
	page := append(slices.Clone(all[lo:hi]), extra...)
	link := func(rel string, offset int) map[string]any {
		v := r.URL.Query()
		v.Del("_offset")
		if offset > 0 {
			v.Set("_offset", strconv.Itoa(offset))
		}
		u := base + path
		if enc := v.Encode(); enc != "" {
			u += "?" + enc
		}
		return map[string]any{"relation": rel, "url": u}
	}
	links := []any{link("self", q.offset)}
	if hi < total && q.count > 0 {
		links = append(links, link("next", hi))
	}
	if lo > 0 {
		links = append(links, link("previous", max(0, lo-max(q.count, 1))))
	}
	entries := []any{}
	for _, e := range page {
		m := map[string]any{"resource": e.res, "search": map[string]any{"mode": e.mode}}
		if e.id != "" {
			m["fullUrl"] = base + "/" + e.typ + "/" + url.PathEscape(e.id)
		}
		entries = append(entries, m)
	}
	b := map[string]any{
		"resourceType": "Bundle", "type": "searchset", "total": total, "link": links,
		"meta": map[string]any{"lastUpdated": instant(time.Now())},
	}
	if len(entries) > 0 {
		b["entry"] = entries
	}
	return b
}

// sortEntries orders results newest first, then by type and id.
func sortEntries(es []entry) {
	sort.SliceStable(es, func(i, j int) bool {
		if !es[i].updated.Equal(es[j].updated) {
			return es[i].updated.After(es[j].updated)
		}
		if es[i].typ != es[j].typ {
			return es[i].typ < es[j].typ
		}
		return es[i].id < es[j].id
	})
}

// releasedEntries turns opened records into entries, collecting per-record
// failures into one outcome issue.
func releasedEntries(recs []opened, q *query) (out []entry, withheld int) {
	for _, o := range recs {
		if o.err != nil {
			withheld++
			continue
		}
		fid := o.anchor.ID
		if o.anchor.ResourceType == "Patient" {
			fid = fhirID(o.anchor.Patient)
		}
		if q != nil && !q.matchResource(o.anchor.ResourceType, o.res) {
			continue
		}
		out = append(out, entry{typ: o.anchor.ResourceType, id: fid, res: render(o.res, fid, o.anchor.Version, o.anchor.Updated), updated: o.anchor.Updated, mode: "match"})
	}
	return out, withheld
}

// latestPatient keeps only the newest Patient entry (one FHIR id).
func latestPatient(es []entry) []entry {
	var out []entry
	seen := false
	for _, e := range es { // sorted newest first
		if e.typ == "Patient" {
			if seen {
				continue
			}
			seen = true
		}
		out = append(out, e)
	}
	return out
}

func withheldOutcome(n int) []entry {
	if n == 0 {
		return nil
	}
	return []entry{{typ: "OperationOutcome", mode: "outcome", res: outcome([]Issue{{Severity: "warning", Code: "incomplete",
		Diagnostic: strconv.Itoa(n) + " permitted record(s) could not be released (erased, unreachable holder, or failed integrity check)"}})}}
}

func (h *Handler) search(w http.ResponseWriter, r *http.Request, c *caller) error {
	typ := r.PathValue("type")
	switch typ {
	case "AuditEvent":
		return h.searchAuditEvents(w, r, c)
	case "Consent":
		return h.searchConsents(w, r, c)
	}
	if _, ok := types[typ]; !ok {
		return typeError(typ)
	}
	q, err := parseQuery(r, typ, searchParams(typ))
	if err != nil {
		return err
	}
	if q.patient == "" {
		return badRequest("search needs the patient parameter (patient=Patient/<id>): a search covers one patient's records")
	}
	found, extra, err := h.searchRecords(r, c, typ, q)
	if err != nil {
		return err
	}
	writeResource(w, http.StatusOK, searchBundle(r, "/"+typ, found, q, extra))
	return nil
}

// searchRecords searches one patient's records of typ ("" for all) the
// caller may read: one access request for the candidates the anchors
// leave, then the content filters on what is released.
func (h *Handler) searchRecords(r *http.Request, c *caller, typ string, q *query) (found, extra []entry, err error) {
	active, _, err := h.patientAnchors(q.patient, typ)
	if err != nil {
		return nil, nil, err
	}
	cands := q.filterAnchors(active)
	if len(cands) == 0 {
		return nil, nil, nil
	}
	recs, err := h.access(r.Context(), r, c, q.patient, cands)
	if err != nil {
		return nil, nil, err
	}
	found, withheld := releasedEntries(recs, q)
	sortEntries(found)
	found = latestPatient(found)
	return found, withheldOutcome(withheld), nil
}

func (h *Handler) everything(w http.ResponseWriter, r *http.Request, c *caller) error {
	id := r.PathValue("id")
	patient := patientDID(id)
	if patient == "" {
		return notFound("Patient/%s not found", clip(id, 64))
	}
	if err := h.activePatient(patient); err != nil {
		return notFound("Patient/%s is not a registered patient", id)
	}
	q, err := parseQuery(r, "Patient/$everything", []string{"_type", "_since"})
	if err != nil {
		return err
	}
	q.patient = patient
	found, extra, err := h.searchRecords(r, c, "", q)
	if err != nil {
		return err
	}
	// The Patient first, then newest first.
	sort.SliceStable(found, func(i, j int) bool { return found[i].typ == "Patient" && found[j].typ != "Patient" })
	writeResource(w, http.StatusOK, searchBundle(r, "/Patient/"+id+"/$everything", found, q, extra))
	return nil
}
