package cli

import (
	"io"

	"github.com/tidegate/tidegate/internal/plaintext"
)

// SecretFlags decide whether decrypted values may be printed at all.
type SecretFlags struct {
	ShowSecrets bool `help:"Let stdout carry decrypted values: render prints Secrets and SOPS-encrypted objects in clear. stderr, logs, step summaries, annotations, webhooks, metrics and pull requests stay scrubbed." env:"TIDEGATE_SHOW_SECRETS"`
}

// plaintext is the run's record of decrypted values. Every render of the
// run adds to it and every output channel is scrubbed with it.
func (g *Globals) plaintext() *plaintext.Set {
	if g.plain == nil {
		g.plain = plaintext.New()
	}
	return g.plain
}

// scrubStdout wraps w unless --show-secrets allows decrypted values on
// stdout.
func (g *Globals) scrubStdout(w io.Writer) io.Writer {
	if g.ShowSecrets {
		return w
	}
	return g.plaintext().Writer(w)
}

// ScrubError is err with every decrypted value of the run masked; main
// prints it. It unwraps to err, so exit codes are unchanged.
func (g *Globals) ScrubError(err error) error {
	return g.plaintext().ScrubError(err)
}

// scrubSummary masks decrypted values in everything a summary carries to
// GitHub Actions, webhooks and metrics. --show-secrets does not apply:
// those channels are read by more people than stdout.
func (g *Globals) scrubSummary(s Summary) Summary {
	p := g.plaintext()
	s.Source, s.Revision = p.Scrub(s.Source), p.Scrub(s.Revision)
	s.Inventory = InventoryRef{Kind: p.Scrub(s.Inventory.Kind), Namespace: p.Scrub(s.Inventory.Namespace), Name: p.Scrub(s.Inventory.Name)}
	s.PullRequestURL, s.Markdown = p.Scrub(s.PullRequestURL), p.Scrub(s.Markdown)
	if len(s.Problems) > 0 {
		problems := make([]Problem, len(s.Problems))
		for i, pr := range s.Problems {
			problems[i] = Problem{File: p.Scrub(pr.File), Line: pr.Line, Message: p.Scrub(pr.Message)}
		}
		s.Problems = problems
	}
	if len(s.Counts) > 0 {
		counts := make(map[string]int, len(s.Counts))
		for k, v := range s.Counts {
			counts[p.Scrub(k)] = v
		}
		s.Counts = counts
	}
	if s.Err != nil {
		s.Err = p.ScrubError(s.Err)
	}
	return s
}
