package object

import "k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

// Redacted is what a Secret value is replaced with wherever tidegate prints
// an object: render output, diffs, reports and PR bodies.
const Redacted = "*** (redacted)"

// RedactSecret returns a copy of u with every data and stringData value of
// a core/v1 Secret replaced by Redacted (keys stay visible, so a reviewer
// sees which entries exist). Other objects are returned as they are.
// Values that differ must stay distinguishable in diffs, so callers that
// diff two Secrets redact both sides and compare the originals separately.
func RedactSecret(u *unstructured.Unstructured) *unstructured.Unstructured {
	if u == nil || u.GetKind() != "Secret" || u.GroupVersionKind().Group != "" {
		return u
	}
	out := u.DeepCopy()
	for _, field := range []string{"data", "stringData"} {
		m, ok := out.Object[field].(map[string]any)
		if !ok {
			continue
		}
		for k := range m {
			m[k] = Redacted
		}
	}
	return out
}
