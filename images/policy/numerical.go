package policy

import (
	"fmt"
	"strconv"
)

// Numerical selects by numeric value; every candidate must be a number.
type Numerical struct {
	// Desc selects the smallest number instead of the largest.
	Desc bool
}

// NewNumerical accepts "asc" (the default when empty) and "desc".
func NewNumerical(order string) (*Numerical, error) {
	desc, err := parseOrder("numerical order", order)
	if err != nil {
		return nil, err
	}
	return &Numerical{Desc: desc}, nil
}

// NotNumberError reports a candidate tag that is not a number.
type NotNumberError struct{ Tag string }

func (e *NotNumberError) Error() string {
	return fmt.Sprintf("numerical policy: tag %q is not a number (add filterTags with a pattern that only lets numbers through, or an extract)", e.Tag)
}

// Latest returns the tag with the largest (asc) or smallest (desc) value.
// On equal values the later tag wins, like Flux.
func (p *Numerical) Latest(tags []string) (string, error) {
	if len(tags) == 0 {
		return "", fmt.Errorf("numerical: %w", ErrNoCandidate)
	}
	var best string
	var bestV float64
	for i, t := range tags {
		v, err := strconv.ParseFloat(t, 64)
		if err != nil {
			return "", &NotNumberError{Tag: t}
		}
		if i > 0 && ((!p.Desc && v < bestV) || (p.Desc && v > bestV)) {
			continue
		}
		best, bestV = t, v
	}
	return best, nil
}
