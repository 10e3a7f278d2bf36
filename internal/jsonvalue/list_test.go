package jsonvalue_test

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/tidegate/tidegate/internal/jsonvalue"
)

// reference decodes as client-go's dynamic client does.
func reference(data []byte) (*unstructured.UnstructuredList, error) {
	list := &unstructured.UnstructuredList{}
	err := runtime.DecodeInto(unstructured.UnstructuredJSONScheme, data, list)
	return list, err
}

// same fails unless List decodes data on the fast path to what
// apimachinery decodes it to.
func same(t *testing.T, data string) {
	t.Helper()
	got, err := jsonvalue.List([]byte(data))
	if err != nil {
		t.Fatalf("List(%s): %v, want the fast path", data, err)
	}
	want, err := reference([]byte(data))
	if err != nil {
		t.Fatalf("apimachinery cannot decode %s: %v", data, err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("List(%s)\n got %#v\nwant %#v", data, got, want)
	}
}

func TestListMatchesApimachinery(t *testing.T) {
	for _, doc := range []string{
		// A LIST as the API server sends it: items without kind.
		`{"kind":"ConfigMapList","apiVersion":"v1","metadata":{"resourceVersion":"42","continue":"abc"},"items":[` +
			`{"metadata":{"name":"a","namespace":"ns","labels":{"x":"y"},"managedFields":[{"manager":"tidegate","operation":"Apply","apiVersion":"v1","time":"2026-12-01T00:00:00Z","fieldsType":"FieldsV1","fieldsV1":{"f:data":{"f:k":{}}}}]},"data":{"k":"v"}},` +
			`{"metadata":{"name":"b"},"data":{"html":"\u003cb\u003e \u0026 \u2028","esc":"a\"b\\c\/d\b\f\n\r\t","uni":"ünï 😀","nul":"\u0000"}}]}`,
		// Numbers as sigs.k8s.io/json keeps them: int64 without a '.',
		// float64 with one, or when too large for an int64.
		`{"kind":"FooList","apiVersion":"x.io/v1","metadata":{},"items":[{"spec":{"i":1,"z":0,"neg":-7,"f":1.5,"e":1e3,"E":-2E-2,"big":123456789012345678901234567890,"max":9223372036854775807,"min":-9223372036854775808,"over":9223372036854775808,"nz":-0,"frac0":2.0}}]}`,
		// Items that carry their own kind keep it; null items are empty.
		`{"kind":"List","apiVersion":"v1","metadata":{},"items":[{"kind":"Secret","apiVersion":"v1"},null,{"kind":"","apiVersion":"apps/v1"},{"kind":7}]}`,
		// Booleans, nulls, empty containers, nesting, whitespace.
		" \n\t{ \"kind\" : \"PodList\" , \"apiVersion\" : \"v1\" , \"items\" : [ { \"a\" : [ true , false , null , [ ] , { } , [ [ 1 ] ] ] } ] } \r\n",
		// Duplicate keys: the last wins, items included.
		`{"kind":"AList","kind":"BList","apiVersion":"v1","items":[{"x":1}],"items":[{"a":1,"a":2}]}`,
		// No items, or null items: an empty list.
		`{"kind":"PodList","apiVersion":"v1","items":null}`,
		`{"kind":"PodList","apiVersion":"v1","items":[]}`,
		// Other top-level fields stay on the list.
		`{"kind":"PodList","apiVersion":"v1","extra":{"k":[1,"two"]},"items":[]}`,
	} {
		same(t, doc)
	}
}

func TestListLeavesTheRestToApimachinery(t *testing.T) {
	for name, doc := range map[string]string{
		"invalid UTF-8":        "{\"kind\":\"PodList\",\"apiVersion\":\"v1\",\"items\":[{\"a\":\"\xff\"}]}",
		"surrogate pair":       `{"kind":"PodList","apiVersion":"v1","items":[{"a":"\ud83d\ude00"}]}`,
		"lone surrogate":       `{"kind":"PodList","apiVersion":"v1","items":[{"a":"\ud800"}]}`,
		"float out of range":   `{"kind":"PodList","apiVersion":"v1","items":[{"a":1e400}]}`,
		"no kind":              `{"apiVersion":"v1","items":[]}`,
		"no apiVersion":        `{"kind":"PodList","items":[]}`,
		"kind not a string":    `{"kind":1,"apiVersion":"v1","items":[]}`,
		"no items":             `{"kind":"PodList","apiVersion":"v1"}`,
		"items not a list":     `{"kind":"PodList","apiVersion":"v1","items":{}}`,
		"item not an object":   `{"kind":"PodList","apiVersion":"v1","items":[1]}`,
		"not an object":        `[{"kind":"PodList"}]`,
		"trailing data":        `{"kind":"PodList","apiVersion":"v1","items":[]} {}`,
		"truncated":            `{"kind":"PodList","apiVersion":"v1","items":[{"a":`,
		"control character":    "{\"kind\":\"PodList\",\"apiVersion\":\"v1\",\"items\":[{\"a\":\"\n\"}]}",
		"bad escape":           `{"kind":"PodList","apiVersion":"v1","items":[{"a":"\x"}]}`,
		"leading zero":         `{"kind":"PodList","apiVersion":"v1","items":[{"a":01}]}`,
		"bare minus":           `{"kind":"PodList","apiVersion":"v1","items":[{"a":-}]}`,
		"dot without digits":   `{"kind":"PodList","apiVersion":"v1","items":[{"a":1.}]}`,
		"exponent sans digits": `{"kind":"PodList","apiVersion":"v1","items":[{"a":1e+}]}`,
		"misspelt literal":     `{"kind":"PodList","apiVersion":"v1","items":[{"a":nul}]}`,
		"trailing comma":       `{"kind":"PodList","apiVersion":"v1","items":[{"a":1,}]}`,
		"single quotes":        `{'kind':'PodList'}`,
		"too deep":             `{"kind":"PodList","apiVersion":"v1","items":[{"a":` + strings.Repeat("[", 600) + strings.Repeat("]", 600) + `}]}`,
	} {
		if _, err := jsonvalue.List([]byte(doc)); !errors.Is(err, jsonvalue.ErrDeclined) {
			t.Errorf("%s: List = %v, want ErrDeclined", name, err)
		}
	}
}

// FuzzList: whatever List decodes, apimachinery decodes the same.
func FuzzList(f *testing.F) {
	for _, s := range []string{
		`{"kind":"PodList","apiVersion":"v1","metadata":{"resourceVersion":"1"},"items":[{"metadata":{"name":"a"},"spec":{"n":1,"f":1.5,"b":true,"z":null,"l":["x",{}]}}]}`,
		`{"kind":"ConfigMapList","apiVersion":"v1","items":[{"data":{"k":"\u003c\"\\\n\u00e9"}},null,{"kind":"X"}]}`,
		`{"kind":"L","apiVersion":"v1","items":[{"a":1e3,"b":-0,"c":12345678901234567890}]}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		got, err := jsonvalue.List(data)
		if errors.Is(err, jsonvalue.ErrDeclined) {
			return
		}
		if err != nil {
			t.Fatalf("List returned %v, want a list or ErrDeclined", err)
		}
		want, rerr := reference(data)
		if rerr != nil {
			t.Fatalf("List accepted %q, apimachinery refuses it: %v", data, rerr)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("List(%q)\n got %#v\nwant %#v", data, got, want)
		}
	})
}

// BenchmarkList decodes a LIST of 1,000 ConfigMaps as the API server
// sends it, against apimachinery's decoder of the same bytes.
func BenchmarkList(b *testing.B) {
	var s strings.Builder
	s.WriteString(`{"kind":"ConfigMapList","apiVersion":"v1","metadata":{"resourceVersion":"1234"},"items":[`)
	for i := range 1000 {
		if i > 0 {
			s.WriteByte(',')
		}
		fmt.Fprintf(&s, `{"metadata":{"name":"bench-%05d","namespace":"bench","uid":"0b7e5c1a-1f2e-4c3d-9a8b-%012d","resourceVersion":"%d","creationTimestamp":"2026-12-01T16:00:00Z",`+
			`"labels":{"applyset.kubernetes.io/part-of":"applyset-x6Egjq3qrptjAUCCDpySi41PI0EVM0r3IHq22F4A7Wg-v1"},"annotations":{"tidegate.dev/digest":"sha256:%064d"},`+
			`"managedFields":[{"manager":"tidegate","operation":"Apply","apiVersion":"v1","time":"2026-12-01T16:00:00Z","fieldsType":"FieldsV1","fieldsV1":{"f:data":{"f:index":{},"f:version":{}},"f:metadata":{"f:annotations":{"f:tidegate.dev/digest":{}},"f:labels":{"f:applyset.kubernetes.io/part-of":{}}}}}]},`+
			`"data":{"index":"%d","version":"v1"}}`, i, i, 1000+i, i, i)
	}
	s.WriteString(`]}`)
	raw := []byte(s.String())
	b.Run("jsonvalue", func(b *testing.B) {
		b.SetBytes(int64(len(raw)))
		for b.Loop() {
			if _, err := jsonvalue.List(raw); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("apimachinery", func(b *testing.B) {
		b.SetBytes(int64(len(raw)))
		for b.Loop() {
			if _, err := reference(raw); err != nil {
				b.Fatal(err)
			}
		}
	})
}
