package auth_test

import "github.com/gatehouse-auth/gatehouse/internal/seal"

// testMasterKey seals the signing keys (and other secrets) of the tests'
// key rings.
var testMasterKey, _ = seal.Generate()
