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

// KeyGates lists the API routes behind the API-key gate (withAPIKeys), by
// pattern, with the key scope each admits ("" for none).
func KeyGates(d Deps) map[string]string {
	gates := map[string]string{}
	for _, rt := range newRoutes(d).routes {
		if g, ok := rt.api.(*keyGate); ok {
			gates[rt.pattern] = g.scope
		}
	}
	return gates
}

// APIRoutes lists the route table's API routes, by pattern.
func APIRoutes(d Deps) []string {
	var out []string
	for _, rt := range newRoutes(d).routes {
		if rt.api != nil {
			out = append(out, rt.pattern)
		}
	}
	return out
}
