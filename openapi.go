// Package gatehouse holds what belongs to the project as a whole: the HTTP
// contract as OpenAPI 3.1 (openapi.yaml), which the server serves at
// /openapi.yaml and its tests hold every response to.
package gatehouse

import _ "embed"

// OpenAPI is openapi.yaml.
//
//go:embed openapi.yaml
var OpenAPI []byte
