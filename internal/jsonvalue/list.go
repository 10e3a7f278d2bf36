package jsonvalue

import (
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// List decodes the API server's JSON LIST response as
// runtime.DecodeInto(unstructured.UnstructuredJSONScheme, data, list)
// would, in one pass (client-go's decoder reads a LIST three times: to
// find the items, to decode the whole list into a map it then drops the
// items from, and to decode each item), or returns ErrDeclined: for what Parse declines, and for anything but a
// LIST with kind and apiVersion.
func List(data []byte) (*unstructured.UnstructuredList, error) {
	v, err := Parse(data, Options{})
	if err != nil {
		return nil, ErrDeclined
	}
	top, ok := v.(map[string]any)
	if !ok {
		return nil, ErrDeclined
	}
	// The last "items" won, as it does for apimachinery; a LIST without
	// items, or with something else there, is no LIST.
	raw, ok := top["items"]
	if !ok {
		return nil, ErrDeclined
	}
	delete(top, "items")
	var items []any
	switch raw := raw.(type) {
	case nil:
	case []any:
		items = raw
	default:
		return nil, ErrDeclined
	}
	list := &unstructured.UnstructuredList{Object: top}
	// A response without kind or apiVersion is an error for client-go:
	// the slow path says which.
	if list.GetKind() == "" || list.GetAPIVersion() == "" {
		return nil, ErrDeclined
	}
	// The API server leaves out the items' kind and apiVersion: they are
	// the list's, as apimachinery fills them in.
	apiVersion, kind := list.GetAPIVersion(), strings.TrimSuffix(list.GetKind(), "List")
	list.Items = make([]unstructured.Unstructured, len(items))
	for i, it := range items {
		var m map[string]any
		switch it := it.(type) {
		case nil:
			m = map[string]any{}
		case map[string]any:
			m = it
		default:
			return nil, ErrDeclined
		}
		u := unstructured.Unstructured{Object: m}
		if u.GetKind() == "" && u.GetAPIVersion() == "" {
			u.SetKind(kind)
			u.SetAPIVersion(apiVersion)
		}
		list.Items[i] = u
	}
	return list, nil
}
