module github.com/gatehouse-auth/gatehouse

go 1.26.8

require (
	github.com/ccojocar/zxcvbn-go v1.0.4
	github.com/golang-jwt/jwt/v5 v5.3.1
	golang.org/x/crypto v0.58.0
)

require golang.org/x/sys v0.49.0 // indirect
