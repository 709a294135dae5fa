package guard

// HeldKeys is how many API keys the guard holds answers for.
func HeldKeys(g *Guard) int { return g.keys.cache.len() }
