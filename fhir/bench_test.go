package fhir_test

import (
	"context"
	"fmt"
	"net/http"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/medchain/medchain/client"
	"github.com/medchain/medchain/x/org"
)

// Benchmarks of the FHIR API on one in-process dev node (issue 4's
// performance section asks for records written per second and read
// latency with consent checks; these measure them end to end: HTTP,
// validation, encryption, the anchor or access transaction and its
// commit).
//
//	go test ./fhir -run '^$' -bench FHIR -benchtime 200x
//
// BenchmarkFHIRTransactionParallel is the write-throughput figure of
// bench/RESULTS.md ("Health records"); BenchmarkFHIRReadConsent the read
// latency with consent checks.

func benchObservation(patientID string, i int) []byte {
	return []byte(fmt.Sprintf(`{"resourceType":"Observation","status":"final","code":{"coding":[{"system":"http://loinc.org","code":"2339-0"}]},`+
		`"subject":{"reference":"Patient/%s"},"effectiveDateTime":"2024-01-01T00:00:00Z","valueQuantity":{"value":%d,"unit":"mg/dL"}}`, patientID, 70+i%100))
}

// BenchmarkFHIRWrite posts single Observations, 64 at a time.
func BenchmarkFHIRWrite(b *testing.B) {
	e := newEnv(b)
	doc := e.register("doc", org.RolePractitioner)
	p := e.register("p")
	tok := e.token(doc)
	b.ResetTimer()
	t0 := time.Now()
	parallel(b.N, 64, func(i int) {
		if r := e.do("POST", "/fhir/Observation", tok, benchObservation(pid(p.DID), i)); r.status != http.StatusCreated {
			b.Errorf("create: %s", r)
		}
	})
	b.ReportMetric(float64(b.N)/time.Since(t0).Seconds(), "records/s")
}

// BenchmarkFHIRTransaction posts transaction Bundles of 100 Observations.
func BenchmarkFHIRTransaction(b *testing.B) {
	e := newEnv(b)
	doc := e.register("doc", org.RolePractitioner)
	p := e.register("p")
	tok := e.token(doc)
	body := []byte(`{"resourceType":"Bundle","type":"transaction","entry":[`)
	for i := 0; i < 100; i++ {
		if i > 0 {
			body = append(body, ',')
		}
		body = append(body, `{"resource":`...)
		body = append(body, benchObservation(pid(p.DID), i)...)
		body = append(body, `,"request":{"method":"POST","url":"Observation"}}`...)
	}
	body = append(body, "]}"...)
	b.ResetTimer()
	t0 := time.Now()
	for i := 0; i < b.N; i++ {
		if r := e.do("POST", "/fhir", tok, body); r.status != http.StatusOK {
			b.Fatalf("transaction: %s", r)
		}
	}
	b.ReportMetric(float64(100*b.N)/time.Since(t0).Seconds(), "records/s")
}

// BenchmarkFHIRRead reads records by id (each an access request decided
// on chain), 32 at a time, and reports latency percentiles.
func BenchmarkFHIRRead(b *testing.B) {
	e := newEnv(b)
	doc := e.register("doc", org.RolePractitioner)
	p := e.register("p")
	tok := e.token(doc)
	ids := make([]string, 64)
	parallel(len(ids), 32, func(i int) {
		r := e.do("POST", "/fhir/Observation", tok, benchObservation(pid(p.DID), i))
		ids[i], _ = r.res["id"].(string)
	})
	var mu sync.Mutex
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	parallel(b.N, 32, func(i int) {
		t0 := time.Now()
		if r := e.do("GET", "/fhir/Observation/"+ids[i%len(ids)], tok, nil); r.status != http.StatusOK {
			b.Errorf("read: %s", r)
		}
		mu.Lock()
		lat = append(lat, time.Since(t0))
		mu.Unlock()
	})
	b.StopTimer()
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
}

// BenchmarkFHIRTransactionParallel posts transaction Bundles of 100
// Observations from 8 and from 16 clients at once, each bundle for its own
// patient, each client posting its next bundle when the previous one is
// committed (a closed loop: with the per-Bundle latency dominated by the
// wait for the block that commits its anchors, throughput grows with the
// number of clients until the CPU is busy).
func BenchmarkFHIRTransactionParallel(b *testing.B) {
	for _, clients := range []int{8, 16} {
		b.Run(fmt.Sprintf("clients=%d", clients), func(b *testing.B) { benchTransactionParallel(b, clients) })
	}
}

func benchTransactionParallel(b *testing.B, clients int) {
	e := newEnv(b)
	doc := e.register("doc", org.RolePractitioner)
	tok := e.token(doc)
	bodies := make([][]byte, clients)
	for k := range clients {
		p := e.register(fmt.Sprintf("p%d", k))
		body := []byte(`{"resourceType":"Bundle","type":"transaction","entry":[`)
		for i := 0; i < 100; i++ {
			if i > 0 {
				body = append(body, ',')
			}
			body = append(body, `{"resource":`...)
			body = append(body, benchObservation(pid(p.DID), i)...)
			body = append(body, `,"request":{"method":"POST","url":"Observation"}}`...)
		}
		bodies[k] = append(body, "]}"...)
	}
	b.ResetTimer()
	t0, cpu0 := time.Now(), processCPU()
	parallel(b.N, clients, func(i int) {
		if r := e.do("POST", "/fhir", tok, bodies[i%clients]); r.status != http.StatusOK {
			b.Errorf("transaction: %s", r)
		}
	})
	b.ReportMetric(float64(100*b.N)/time.Since(t0).Seconds(), "records/s")
	// CPU of the whole process (node, vault, client) per record written.
	b.ReportMetric(float64((processCPU()-cpu0).Microseconds())/1000/float64(100*b.N), "cpu-ms/record")
}

// BenchmarkFHIRReadConsent reads records by id, 32 at a time, as a member
// of the holding organization without a care role (billing), under a DID
// consent of the patient's: every read is an access request that the
// chain decides through x/consent. Reports latency percentiles.
func BenchmarkFHIRReadConsent(b *testing.B) {
	e := newEnv(b)
	doc := e.register("doc", org.RolePractitioner)
	clerk := e.register("clerk", org.RoleBilling)
	p := e.register("p")
	if res, err := e.c.Submit(context.Background(), client.KeySigner{Key: p}, grantMsg(p.DID, clerk.DID)); err != nil || res.Code != 0 {
		b.Fatalf("grant: %+v %v", res, err)
	}
	tok, readTok := e.token(doc), e.token(clerk)
	ids := make([]string, 64)
	parallel(len(ids), 32, func(i int) {
		r := e.do("POST", "/fhir/Observation", tok, benchObservation(pid(p.DID), i))
		ids[i], _ = r.res["id"].(string)
	})
	var mu sync.Mutex
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	t0 := time.Now()
	parallel(b.N, 32, func(i int) {
		t := time.Now()
		if r := e.do("GET", "/fhir/Observation/"+ids[i%len(ids)], readTok, nil); r.status != http.StatusOK {
			b.Errorf("read: %s", r)
		}
		mu.Lock()
		lat = append(lat, time.Since(t))
		mu.Unlock()
	})
	b.StopTimer()
	b.ReportMetric(float64(b.N)/time.Since(t0).Seconds(), "reads/s")
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
}
