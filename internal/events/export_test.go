package events

// AttemptError is attemptError, for the tests.
var AttemptError = attemptError
