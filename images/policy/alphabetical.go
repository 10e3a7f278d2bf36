package policy

import (
	"fmt"
	"strings"
)

// Alphabetical selects by byte-wise string order.
type Alphabetical struct {
	// Desc selects the least tag instead of the greatest.
	Desc bool
}

// NewAlphabetical accepts "asc" (the default when empty) and "desc", in
// any case, as Flux does.
func NewAlphabetical(order string) (*Alphabetical, error) {
	desc, err := parseOrder("alphabetical order", order)
	if err != nil {
		return nil, err
	}
	return &Alphabetical{Desc: desc}, nil
}

// Latest returns the greatest tag (asc) or the least (desc).
func (p *Alphabetical) Latest(tags []string) (string, error) {
	if len(tags) == 0 {
		return "", fmt.Errorf("alphabetical: %w", ErrNoCandidate)
	}
	best := tags[0]
	for _, t := range tags[1:] {
		if (!p.Desc && t > best) || (p.Desc && t < best) {
			best = t
		}
	}
	return best, nil
}

func parseOrder(field, order string) (desc bool, err error) {
	switch strings.ToLower(order) {
	case "", "asc":
		return false, nil
	case "desc":
		return true, nil
	}
	return false, &InvalidError{Field: field, Value: order, Err: fmt.Errorf("want asc or desc")}
}
