//go:build !unix

package fhir_test

import "time"

// processCPU is not measured here; benchmarks report 0 CPU per record.
func processCPU() time.Duration { return 0 }
