package version

import "testing"

func TestReleased(t *testing.T) {
	for v, want := range map[string]bool{
		"v0.1.0":                               true,
		"v1.22.333":                            true,
		"v1.2.0-rc.1":                          true,
		"v1.2.0-beta.2":                        true,
		"dev":                                  false,
		"":                                     false,
		"1.2.3":                                false,
		"v1.2":                                 false,
		"v01.2.3":                              false,
		"v1.2.4-SNAPSHOT-abc1234":              false,
		"v0.0.0-20240101000000-abcdef123456":   false,
		"v1.2.3-0.20240101000000-abcdef123456": false,
		"v1.2.3+dirty":                         false,
		"v1.2.3\n":                             false,
	} {
		if got := Released(v); got != want {
			t.Errorf("Released(%q) = %v, want %v", v, got, want)
		}
	}
}

// The linker's stamp wins over what Go recorded; without it, Version
// never answers "".
func TestStampWins(t *testing.T) {
	if Version() == "" {
		t.Error("unstamped Version() is empty")
	}
	version, commit, date = "v1.2.3", "0123abc", "2026-01-02T03:04:05Z"
	t.Cleanup(func() { version, commit, date = "", "", "" })
	if got := Version() + " " + Commit() + " " + Date(); got != "v1.2.3 0123abc 2026-01-02T03:04:05Z" {
		t.Errorf("stamped = %q", got)
	}
}
