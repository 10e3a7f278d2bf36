package jsonvalue_test

import (
	"errors"
	"reflect"
	"testing"

	utiljson "k8s.io/apimachinery/pkg/util/json"

	"github.com/tidegate/tidegate/internal/jsonvalue"
)

// FuzzParse: whatever Parse reads, apimachinery's JSON reads the same.
// (Parse's YAML 1.1 reading is compared with sigs.k8s.io/yaml by
// render's FuzzJSONManifests.)
func FuzzParse(f *testing.F) {
	for _, s := range []string{`{"a":[1,2.5,-0,1e3,"x\u003c\n",true,null,{}]}`, `"s"`, `[]`, `12345678901234567890`, `{"a":1,"a":2}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		got, err := jsonvalue.Parse(data, jsonvalue.Options{})
		if errors.Is(err, jsonvalue.ErrDeclined) {
			return
		}
		if err != nil {
			t.Fatalf("Parse returned %v, want a value or ErrDeclined", err)
		}
		var want any
		if err := utiljson.Unmarshal(data, &want); err != nil {
			t.Fatalf("Parse read %q, apimachinery refuses it: %v", data, err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("Parse(%q)\n got %#v\nwant %#v", data, got, want)
		}
	})
}

func TestParseYAML11Declines(t *testing.T) {
	for _, doc := range []string{`1.5`, `1e3`, `9223372036854775808`, `{"a":1,"a":2}`, `{"<<":{}}`, `"\/"`, `"\u00e9"`, "\"\u2028\"", "[1,\t2]"} {
		if _, err := jsonvalue.Parse([]byte(doc), jsonvalue.Options{YAML11: true}); !errors.Is(err, jsonvalue.ErrDeclined) {
			t.Errorf("YAML11 Parse(%q) = %v, want ErrDeclined", doc, err)
		}
		if _, err := jsonvalue.Parse([]byte(doc), jsonvalue.Options{}); err != nil {
			t.Errorf("Parse(%q) = %v, want it read as JSON", doc, err)
		}
	}
}
