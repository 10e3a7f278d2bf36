package main

import (
	"os"
	"strings"
	"testing"

	"github.com/alecthomas/kong"

	"github.com/tidegate/tidegate/cli"
)

// TestEveryFlagIsDocumented keeps the README's flag reference complete:
// a flag added to a command without a line in the README fails here.
func TestEveryFlagIsDocumented(t *testing.T) {
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	var root cli.CLI
	parser, err := kong.New(&root, kong.Name("tidegate"))
	if err != nil {
		t.Fatal(err)
	}
	seen := 0
	var walk func(n *kong.Node)
	walk = func(n *kong.Node) {
		for _, f := range n.Flags {
			if f.Name == "help" {
				continue
			}
			seen++
			if !strings.Contains(string(readme), "`--"+f.Name) {
				t.Errorf("flag --%s of %q is not documented in README.md (add a line starting with `--%s`)", f.Name, n.Path(), f.Name)
			}
			if f.Help == "" {
				t.Errorf("flag --%s of %q has no help text", f.Name, n.Path())
			}
		}
		for _, c := range n.Children {
			walk(c)
		}
	}
	walk(parser.Model.Node)
	if seen < 4 {
		t.Fatalf("found only %d flags; the walk is broken", seen)
	}
}

func TestExitCodes(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want int
	}{
		{[]string{"version"}, cli.ExitOK},
		{[]string{"--no-such-flag"}, cli.ExitUsage},
		{[]string{"no-such-command"}, cli.ExitUsage},
		{[]string{"--output", "yaml", "version"}, cli.ExitUsage},
	} {
		if got := run(tc.args); got != tc.want {
			t.Errorf("tidegate %s exited %d, want %d", strings.Join(tc.args, " "), got, tc.want)
		}
	}
}
