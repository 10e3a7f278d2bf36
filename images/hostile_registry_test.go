package images

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"
)

// hostileTags are tags a registry can list but the reference grammar
// forbids. Each sorts above every valid tag (alphabetically, or as a
// semver version), so a tidegate that did not drop them would select
// them.
var hostileTags = []string{
	strings.Repeat("z", 5000),
	"zz\x1b[31mred",
	"zzz@sha256:" + strings.Repeat("a", 64),
	"zzzz\n| injected | row |",
	"zzzzz`code`<img src=x>",
	"5.9.0+evil",
	"5.8.0\n# heading",
	"-5.7.0",
	"z\u202eevil",
}

// TestHostileRegistryTags: the registry lists tags outside the OCI
// grammar. None is a candidate or selected, under either ordering, and
// the debug line counts them with every control character escaped.
func TestHostileRegistryTags(t *testing.T) {
	reg, sopts := startFixture(t)
	for _, tag := range hostileTags {
		if strings.Contains(tag, "sha256:") {
			// The in-process registry never lists such a tag; a hostile one does.
			reg.ListExtraTags("apps/podinfo", tag)
			continue
		}
		reg.TagRaw(t, "apps/podinfo", "5.0.0", tag)
	}
	src, err := loadString(t, hostilePolicy+`---
apiVersion: image.toolkit.fluxcd.io/v1beta2
kind: ImagePolicy
metadata: {name: alpha, namespace: flux-system}
spec:
  imageRepositoryRef: {name: podinfo}
  policy: {alphabetical: {order: asc}}
---
apiVersion: v1
kind: Pod
metadata: {name: p, namespace: apps}
spec:
  containers:
  - name: semver
    image: registry.test/apps/podinfo:5.0.0 # {"$imagepolicy": "flux-system:podinfo"}
  - name: alpha
    image: registry.test/apps/podinfo:5.0.0 # {"$imagepolicy": "flux-system:alpha"}
`)
	if err != nil {
		t.Fatal(err)
	}
	var log bytes.Buffer
	sopts.Logger = slog.New(slog.NewTextHandler(&log, &slog.HandlerOptions{Level: slog.LevelDebug}))
	plan, err := Resolve(context.Background(), src, Options{Scan: sopts, Tags: 100})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"semver": "5.1.0", "alpha": "latest"}
	for _, e := range plan.Entries {
		if e.Latest != want[e.Container] {
			t.Errorf("%s selected %.60q, want %q", e.Container, e.Latest, want[e.Container])
		}
		for _, tag := range e.Tags {
			for _, h := range hostileTags {
				if tag == h {
					t.Errorf("%s lists the invalid tag %.60q as a candidate", e.Container, tag)
				}
			}
		}
	}
	for _, c := range plan.Changes {
		if strings.ContainsAny(c.New, "\n\x1b@+`<\u202e") || len(c.New) > 200 {
			t.Errorf("change to %q", c.New)
		}
	}
	if !strings.Contains(log.String(), "invalid="+itoa(len(hostileTags))) {
		t.Errorf("the debug log does not count %d invalid tags:\n%s", len(hostileTags), log.String())
	}
	for _, raw := range []string{"\x1b", "\n| injected", "\n# heading", "\u202e", strings.Repeat("z", 100)} {
		if strings.Contains(log.String(), raw) {
			t.Errorf("the log holds %q raw:\n%s", raw, log.String())
		}
	}
}

func itoa(n int) string {
	var b []byte
	for ; n > 0 || len(b) == 0; n /= 10 {
		b = append([]byte{byte('0' + n%10)}, b...)
	}
	return string(b)
}
