package wait

import "errors"

// Permanent marks err, returned by a callback of a strategy (ForFunc's function,
// LogStrategy.OnMatch, SQLStrategy's check), as one that waiting longer cannot mend:
// the wait then ends at once with err wrapped, instead of trying again until its
// deadline. Permanent(nil) is nil.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return &permanentError{err}
}

// ErrPermanent is wrapped by the errors of waits that a callback ended with Permanent.
var ErrPermanent = errors.New("permanent failure")

type permanentError struct{ err error }

func (e *permanentError) Error() string   { return e.err.Error() }
func (e *permanentError) Unwrap() []error { return []error{ErrPermanent, e.err} }

// isPermanent reports whether err was marked with Permanent.
func isPermanent(err error) bool {
	var p *permanentError
	return errors.As(err, &p)
}
