package consent

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"cel.dev/cel-go/cel"
	"cel.dev/cel-go/common/overloads"
	"cel.dev/cel-go/common/types"
)

// MaxConditionBytes bounds a consent condition's source.
const MaxConditionBytes = 1024

// conditionCostLimit bounds the work one evaluation may do.
const conditionCostLimit = 10_000

// The variables a consent condition can read. Every input is a string, a
// list of strings or a timestamp, never a map: cel-go ranges over map inputs
// in random order, which would break determinism.
//
//	purpose          string     the requested purpose of use, e.g. "TREAT"
//	requester        string     the requester's DID
//	requester_orgs   list       organizations the requester belongs to
//	requester_roles  list       "<org>/<role>" for each role the requester holds
//	record_type      string     FHIR resource type of the record
//	record_category  string     the record's category
//	record_org       string     the organization holding the record
//	time             timestamp  the block time of the decision
//
// Example: `purpose == "TREAT" && "cardiology-1/practitioner" in requester_roles`.
var conditionEnv = sync.OnceValues(func() (*cel.Env, error) {
	return cel.NewEnv(
		cel.Variable("purpose", cel.StringType),
		cel.Variable("requester", cel.StringType),
		cel.Variable("requester_orgs", cel.ListType(cel.StringType)),
		cel.Variable("requester_roles", cel.ListType(cel.StringType)),
		cel.Variable("record_type", cel.StringType),
		cel.Variable("record_category", cel.StringType),
		cel.Variable("record_org", cel.StringType),
		cel.Variable("time", cel.TimestampType),
	)
})

// ConditionInput is what a condition is evaluated against.
type ConditionInput struct {
	Purpose        string
	Requester      string
	RequesterOrgs  []string
	RequesterRoles []string
	RecordType     string
	RecordCategory string
	RecordOrg      string
	Time           time.Time
}

var (
	progMu    sync.Mutex
	progCache = map[string]cel.Program{} // source -> program; look-ups only
)

// CompileCondition parses and type-checks a condition, which must be a CEL
// expression of type bool over the variables above.
func CompileCondition(src string) (cel.Program, error) {
	progMu.Lock()
	p, ok := progCache[src]
	progMu.Unlock()
	if ok {
		return p, nil
	}
	if len(src) > MaxConditionBytes {
		return nil, fmt.Errorf("condition is %d bytes, limit %d", len(src), MaxConditionBytes)
	}
	env, err := conditionEnv()
	if err != nil {
		return nil, err
	}
	ast, iss := env.Compile(src)
	if iss.Err() != nil {
		return nil, iss.Err()
	}
	if ast.OutputType() != cel.BoolType {
		return nil, fmt.Errorf("condition has type %s, want bool", ast.OutputType())
	}
	if err := checkDeterministic(ast); err != nil {
		return nil, err
	}
	p, err = env.Program(ast, cel.CostLimit(conditionCostLimit))
	if err != nil {
		return nil, err
	}
	progMu.Lock()
	if len(progCache) > 4096 {
		clear(progCache)
	}
	progCache[src] = p
	progMu.Unlock()
	return p, nil
}

// EvalCondition evaluates src against in. An empty condition is true. A
// condition that fails to compile or to evaluate (including exceeding its
// cost limit) is false: it never grants access.
func EvalCondition(src string, in ConditionInput) bool {
	if src == "" {
		return true
	}
	p, err := CompileCondition(src)
	if err != nil {
		return false
	}
	orgs, roles := in.RequesterOrgs, in.RequesterRoles
	if orgs == nil {
		orgs = []string{}
	}
	if roles == nil {
		roles = []string{}
	}
	out, _, err := p.Eval(map[string]any{
		"purpose": in.Purpose, "requester": in.Requester, "requester_orgs": orgs, "requester_roles": roles,
		"record_type": in.RecordType, "record_category": in.RecordCategory, "record_org": in.RecordOrg, "time": in.Time.UTC(),
	})
	if err != nil {
		return false
	}
	b, ok := out.Value().(bool)
	return ok && b
}

// tzOverloads are the timestamp accessors that take a time zone argument.
// They resolve zone names through the host's time zone database, which may
// differ (or be missing) from one validator to the next.
var tzOverloads = []string{
	overloads.TimestampToYearWithTz, overloads.TimestampToMonthWithTz, overloads.TimestampToDayOfYearWithTz,
	overloads.TimestampToDayOfMonthZeroBasedWithTz, overloads.TimestampToDayOfMonthOneBasedWithTz,
	overloads.TimestampToDayOfWeekWithTz, overloads.TimestampToHoursWithTz, overloads.TimestampToMinutesWithTz,
	overloads.TimestampToSecondsWithTz, overloads.TimestampToMillisecondsWithTz,
}

// checkDeterministic refuses the two constructs whose result could differ
// between validators: any map-typed value (cel-go ranges over maps in Go's
// random order, so e.g. `{"a":1,"b":2}.map(k, k)[0] == "a"` is true on some
// nodes and false on others) and time zone arguments (host tz database).
func checkDeterministic(a *cel.Ast) error {
	na := a.NativeRep()
	hasMap, hasTZ := false, false
	for _, t := range na.TypeMap() {
		hasMap = hasMap || containsMap(t)
	}
	for _, ref := range na.ReferenceMap() {
		hasTZ = hasTZ || slices.ContainsFunc(ref.OverloadIDs, func(o string) bool { return slices.Contains(tzOverloads, o) })
	}
	switch {
	case hasMap:
		return errors.New("condition may not use maps (their iteration order is not deterministic)")
	case hasTZ:
		return errors.New("condition may not use time zone arguments (use the UTC accessors, e.g. time.getHours())")
	}
	return nil
}

func containsMap(t *types.Type) bool {
	if t == nil {
		return false
	}
	if t.Kind() == types.MapKind {
		return true
	}
	return slices.ContainsFunc(t.Parameters(), containsMap)
}
