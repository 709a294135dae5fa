package httpapi

// PageRoutes lists the route table's pages that need a signed-in user and
// those that need an administrator, by pattern, for the test that walks
// them.
func PageRoutes(d Deps) (signedInPages, adminPages []string) {
	for _, rt := range newRoutes(d).routes {
		switch rt.needs {
		case signedIn:
			signedInPages = append(signedInPages, rt.pattern)
		case adminOnly:
			adminPages = append(adminPages, rt.pattern)
		}
	}
	return signedInPages, adminPages
}
