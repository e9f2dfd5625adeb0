package metastore

// Helpers for the external tests (package metastore_test), which can import
// faultfs without an import cycle.
var (
	TestManifest  = testManifest
	AssertNoTemps = assertNoTemps
)
