package source

import "github.com/tidegate/tidegate/internal/gitremote"

// Redact returns what of a repository URL is safe to print; see
// gitremote.Redact, which every package that prints a remote shares.
func Redact(raw string) string { return gitremote.Redact(raw) }
