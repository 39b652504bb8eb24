package vault

// Exported for the tests of package vault_test.
var (
	BlobKey       = blobKey
	LegacyBlobKey = legacyBlobKey
)
