package app

// SeqKey is the auth store key of a DID's stored sequence, for tests.
var SeqKey = seqKey

// Prepare is App.prepare, for the pipeline benchmark.
var Prepare = (*App).prepare
