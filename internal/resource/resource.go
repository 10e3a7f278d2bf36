// Package resource finds the dynamic client that serves a kind of object.
//
// apply (plan and wait) and prune each reach objects through the dynamic
// client; the rule that picks it (ask the REST mapper for the resource,
// and address a namespace only when the kind is namespaced) lives here
// once, so a cluster-scoped object whose manifest names a namespace is
// read and written at the same URL everywhere.
package resource

import (
	"context"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
)

// Client returns the dynamic client for objects of kind gk in namespace,
// and the mapping it was chosen by. versions are the preferred API
// versions, as for meta.RESTMapper.RESTMapping. For a cluster-scoped kind
// namespace is ignored. The mapper's error is returned as it is, so that
// callers can tell an unknown kind with meta.IsNoMatchError and say so
// in their own words. A lookup may ask the API server (a discovery
// mapper after its Reset, when CRDs were applied): it runs under ctx, so
// a cancelled run does not wait for it.
func Client(ctx context.Context, dyn dynamic.Interface, mapper meta.RESTMapper, gk schema.GroupKind, namespace string, versions ...string) (dynamic.ResourceInterface, *meta.RESTMapping, error) {
	mapping, err := meta.ToRESTMapperWithContext(mapper).RESTMappingWithContext(ctx, gk, versions...)
	if err != nil {
		return nil, nil, err
	}
	return scoped(dyn, mapping, namespace), mapping, nil
}

// scoped is the client of mapping's resource, in namespace when the kind
// is namespaced.
func scoped(dyn dynamic.Interface, mapping *meta.RESTMapping, namespace string) dynamic.ResourceInterface {
	c := dyn.Resource(mapping.Resource)
	if mapping.Scope.Name() != meta.RESTScopeNameNamespace {
		return c
	}
	return c.Namespace(namespace)
}

// Mappings answers Client for one pass over many objects, asking the
// mapper once per kind and version: a discovery mapper's lookup costs far
// more than a map's, and a run holds many objects of few kinds. It is
// not safe for concurrent use.
type Mappings struct {
	dyn    dynamic.Interface
	mapper meta.RESTMapper
	seen   map[mappingKey]mappingResult
}

type mappingKey struct {
	gk      schema.GroupKind
	version string
}

type mappingResult struct {
	mapping *meta.RESTMapping
	err     error
}

// NewMappings returns an empty Mappings of dyn and mapper.
func NewMappings(dyn dynamic.Interface, mapper meta.RESTMapper) *Mappings {
	return &Mappings{dyn: dyn, mapper: mapper, seen: map[mappingKey]mappingResult{}}
}

// Client is the package's Client, for one preferred version at most.
func (m *Mappings) Client(ctx context.Context, gk schema.GroupKind, namespace, version string) (dynamic.ResourceInterface, *meta.RESTMapping, error) {
	k := mappingKey{gk, version}
	r, ok := m.seen[k]
	if !ok {
		var versions []string
		if version != "" {
			versions = []string{version}
		}
		r.mapping, r.err = meta.ToRESTMapperWithContext(m.mapper).RESTMappingWithContext(ctx, gk, versions...)
		m.seen[k] = r
	}
	if r.err != nil {
		return nil, nil, r.err
	}
	return scoped(m.dyn, r.mapping, namespace), r.mapping, nil
}
