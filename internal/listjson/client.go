// Package listjson is a dynamic client whose List decodes the API
// server's response in one pass (jsonvalue.List) instead of
// apimachinery's three: LISTs are most of what a run waits for before
// its first write. What jsonvalue declines, apimachinery decodes, from
// the same bytes: a result is never different, only sometimes slower.
package listjson

import (
	"context"
	"errors"
	"fmt"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"

	"github.com/tidegate/tidegate/internal/jsonvalue"
)

// NewForConfig returns a dynamic client of cfg whose List decodes with
// jsonvalue.List; everything else is client-go's dynamic client, sharing
// its connections.
func NewForConfig(cfg *rest.Config) (dynamic.Interface, error) {
	config := dynamic.ConfigFor(cfg)
	hc, err := rest.HTTPClientFor(config)
	if err != nil {
		return nil, err
	}
	base, err := dynamic.NewForConfigAndClient(config, hc)
	if err != nil {
		return nil, err
	}
	// As the dynamic client builds its own: no group version, paths
	// given whole.
	config.GroupVersion = nil
	config.APIPath = "/"
	rc, err := rest.UnversionedRESTClientForConfigAndClient(config, hc)
	if err != nil {
		return nil, err
	}
	params := runtime.NewScheme()
	metav1.AddToGroupVersion(params, schema.GroupVersion{Version: "v1"})
	return &client{Interface: base, rest: rc, params: runtime.NewParameterCodec(params)}, nil
}

type client struct {
	dynamic.Interface
	rest   rest.Interface
	params runtime.ParameterCodec
}

func (c *client) Resource(gvr schema.GroupVersionResource) dynamic.NamespaceableResourceInterface {
	return &namespaceable{NamespaceableResourceInterface: c.Interface.Resource(gvr), lister: lister{c: c, gvr: gvr}}
}

type namespaceable struct {
	dynamic.NamespaceableResourceInterface
	lister
}

func (n *namespaceable) Namespace(ns string) dynamic.ResourceInterface {
	l := n.lister
	l.namespace = ns
	return &namespaced{ResourceInterface: n.NamespaceableResourceInterface.Namespace(ns), lister: l}
}

func (n *namespaceable) List(ctx context.Context, opts metav1.ListOptions) (*unstructured.UnstructuredList, error) {
	return n.lister.List(ctx, opts)
}

type namespaced struct {
	dynamic.ResourceInterface
	lister
}

func (n *namespaced) List(ctx context.Context, opts metav1.ListOptions) (*unstructured.UnstructuredList, error) {
	return n.lister.List(ctx, opts)
}

// lister sends the LIST client-go's dynamic client sends, to the same
// URL with the same parameters.
type lister struct {
	c         *client
	gvr       schema.GroupVersionResource
	namespace string
}

func (l lister) List(ctx context.Context, opts metav1.ListOptions) (*unstructured.UnstructuredList, error) {
	if msgs := rest.IsValidPathSegmentName(l.namespace); len(msgs) != 0 {
		return nil, fmt.Errorf("invalid namespace %q: %v", l.namespace, msgs)
	}
	path := []string{"api"}
	if l.gvr.Group != "" {
		path = []string{"apis", l.gvr.Group}
	}
	path = append(path, l.gvr.Version)
	if l.namespace != "" {
		path = append(path, "namespaces", l.namespace)
	}
	path = append(path, l.gvr.Resource)
	raw, err := l.c.rest.Get().AbsPath(path...).SpecificallyVersionedParams(&opts, l.c.params, schema.GroupVersion{Version: "v1"}).Do(ctx).Raw()
	if err != nil {
		return nil, err
	}
	list, err := jsonvalue.List(raw)
	if errors.Is(err, jsonvalue.ErrDeclined) {
		list = &unstructured.UnstructuredList{}
		err = runtime.DecodeInto(unstructured.UnstructuredJSONScheme, raw, list)
	}
	if err != nil {
		return nil, err
	}
	return list, nil
}
