package scan

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/google/go-containerregistry/pkg/authn"
)

// Keychain resolves registry credentials from the "auths" section of a
// Docker config.json. The zero value has no credentials (anonymous).
// Credential helpers (credsStore, credHelpers) are not run.
type Keychain struct {
	auths map[string]authn.AuthConfig
}

var _ authn.Keychain = (*Keychain)(nil)

type dockerConfig struct {
	Auths map[string]struct {
		Auth          string `json:"auth"`
		Username      string `json:"username"`
		Password      string `json:"password"`
		IdentityToken string `json:"identitytoken"`
		RegistryToken string `json:"registrytoken"`
	} `json:"auths"`
}

// ParseDockerConfig parses config.json content, or the .dockerconfigjson
// value of a Kubernetes Secret. Errors never include the credentials.
func ParseDockerConfig(data []byte) (*Keychain, error) {
	var cfg dockerConfig
	if err := json.Unmarshal(data, &cfg); err != nil {
		return nil, errors.New("not a docker config.json: want {\"auths\": {\"registry\": {\"auth\": \"base64(user:password)\"}}}")
	}
	k := &Keychain{auths: map[string]authn.AuthConfig{}}
	for host, a := range cfg.Auths {
		ac := authn.AuthConfig{
			Username:      a.Username,
			Password:      a.Password,
			IdentityToken: a.IdentityToken,
			RegistryToken: a.RegistryToken,
		}
		if a.Auth != "" {
			raw, err := base64.StdEncoding.DecodeString(a.Auth)
			if err != nil {
				return nil, fmt.Errorf("docker config: the auth entry for %s is not base64", host)
			}
			user, pass, ok := strings.Cut(string(raw), ":")
			if !ok {
				return nil, fmt.Errorf("docker config: the auth entry for %s is not user:password", host)
			}
			ac.Username, ac.Password = user, pass
		}
		k.auths[normalizeHost(host)] = ac
	}
	return k, nil
}

// LoadDockerConfig reads dir/config.json. A missing file yields an empty
// keychain, as for docker itself.
func LoadDockerConfig(dir string) (*Keychain, error) {
	file := filepath.Join(dir, "config.json")
	data, err := os.ReadFile(file)
	if errors.Is(err, fs.ErrNotExist) {
		return &Keychain{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read docker config: %w", err)
	}
	k, err := ParseDockerConfig(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	return k, nil
}

// Resolve implements authn.Keychain.
func (k *Keychain) Resolve(r authn.Resource) (authn.Authenticator, error) {
	if k == nil {
		return authn.Anonymous, nil
	}
	if ac, ok := k.auths[normalizeHost(r.RegistryStr())]; ok {
		return authn.FromConfig(ac), nil
	}
	return authn.Anonymous, nil
}

// Hosts lists the registries the keychain has credentials for.
func (k *Keychain) Hosts() []string {
	var out []string
	for h := range k.auths {
		out = append(out, h)
	}
	return out
}

// normalizeHost maps the ways config.json names a registry
// ("https://index.docker.io/v1/", "docker.io", "host:5000") to the host
// go-containerregistry reports.
func normalizeHost(h string) string {
	h = strings.TrimPrefix(strings.TrimPrefix(h, "https://"), "http://")
	h, _, _ = strings.Cut(h, "/")
	h = strings.ToLower(h)
	switch h {
	case "docker.io", "registry-1.docker.io", "index.docker.io":
		return "index.docker.io"
	}
	return h
}
