package source

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/google/go-containerregistry/pkg/authn"
)

// AuthFromSecret reads the data of a GitRepository's spec.secretRef with
// the keys Flux documents:
//
//	username, password   HTTPS basic auth (a token goes in password)
//	bearerToken          HTTPS "Authorization: Bearer"
//	identity             SSH private key; password is then its passphrase
//	known_hosts          SSH host keys
//	ca.crt (or caFile)   CA of an HTTPS server with a private CA
//
// Other keys are ignored, as Flux ignores them; an empty secret is
// anonymous. The errors name keys, never values.
func AuthFromSecret(data map[string][]byte) (Auth, error) {
	get := func(k string) string { return strings.TrimSpace(string(data[k])) }
	var a Auth
	if id := data["identity"]; len(id) > 0 {
		a.SSHKey = id
		// With a key, password unlocks the key (flux create secret git
		// --password), it is not an HTTPS password.
		a.SSHKeyPassphrase = string(data["password"])
	} else {
		a.Username, a.Password = get("username"), string(data["password"])
		if a.Password != "" && a.Username == "" {
			return Auth{}, errors.New("the secret has password but no username: HTTPS basic auth needs both (put a token in password, any user name in username), or give bearerToken")
		}
	}
	a.BearerToken = get("bearerToken")
	if a.BearerToken != "" && a.Username != "" {
		return Auth{}, errors.New("the secret has both username/password and bearerToken: keep one (GitHub, GitLab and Gitea take a token as the basic-auth password)")
	}
	a.KnownHosts = data["known_hosts"]
	if ca := data["ca.crt"]; len(ca) > 0 {
		a.CACert = ca
	} else if ca := data["caFile"]; len(ca) > 0 {
		a.CACert = ca
	}
	if len(a.SSHKey) > 0 && len(a.KnownHosts) == 0 {
		return Auth{}, errors.New("the secret has identity but no known_hosts: add the server's host keys (flux create secret git fills them in; ssh-keyscan prints them)")
	}
	return a, nil
}

// keysOf lists the keys of a secret's data, for errors that say what a
// secret holds without showing a value.
func keysOf(data map[string][]byte) string {
	keys := make([]string, 0, len(data))
	for k := range data {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	if len(keys) == 0 {
		return "no keys"
	}
	return "keys " + strings.Join(keys, ", ")
}

// ArtifactAuthFromSecret reads the data of an OCIRepository's
// spec.secretRef for registryHost (host[:port]): a docker-registry
// Secret's .dockerconfigjson (what kubectl create secret docker-registry
// and flux create secret oci write), or username and password keys. The
// errors name keys and registry hosts, never values.
func ArtifactAuthFromSecret(data map[string][]byte, registryHost string) (ArtifactOption, error) {
	if cfg, ok := data[".dockerconfigjson"]; ok {
		var doc struct {
			Auths map[string]dockerAuth `json:"auths"`
		}
		if err := json.Unmarshal(cfg, &doc); err != nil {
			// The JSON error could quote part of a credential.
			return nil, errors.New("the secret's .dockerconfigjson is not valid JSON; recreate it with kubectl create secret docker-registry")
		}
		want := registryKey(registryHost)
		hosts := make([]string, 0, len(doc.Auths))
		for k, a := range doc.Auths {
			hosts = append(hosts, k)
			if registryKey(k) != want {
				continue
			}
			auth, err := a.authenticator(k)
			if err != nil {
				return nil, err
			}
			return func(o *artifactOptions) { o.auth = auth }, nil
		}
		sort.Strings(hosts)
		if len(hosts) == 0 {
			return nil, fmt.Errorf("the secret's .dockerconfigjson has no auths; add credentials for %s", registryHost)
		}
		return nil, fmt.Errorf("the secret's .dockerconfigjson has no credentials for %s (it has %s); add them with kubectl create secret docker-registry --docker-server=%s", registryHost, strings.Join(hosts, ", "), registryHost)
	}
	user, pass := strings.TrimSpace(string(data["username"])), string(data["password"])
	if user == "" || pass == "" {
		return nil, fmt.Errorf("the secret has neither .dockerconfigjson nor username and password (it has %s); make it with kubectl create secret docker-registry", keysOf(data))
	}
	return WithArtifactAuth(user, pass), nil
}

type dockerAuth struct {
	Username      string `json:"username"`
	Password      string `json:"password"`
	Auth          string `json:"auth"`
	IdentityToken string `json:"identitytoken"`
	RegistryToken string `json:"registrytoken"`
}

func (a dockerAuth) authenticator(host string) (authn.Authenticator, error) {
	if a.Auth != "" && a.Username == "" {
		raw, err := base64.StdEncoding.DecodeString(a.Auth)
		if err != nil {
			return nil, fmt.Errorf("the secret's .dockerconfigjson entry for %s has an auth that is not base64 of user:password", host)
		}
		user, pass, ok := strings.Cut(string(raw), ":")
		if !ok {
			return nil, fmt.Errorf("the secret's .dockerconfigjson entry for %s has an auth that is not user:password", host)
		}
		a.Username, a.Password = user, pass
	}
	if a.Username == "" && a.IdentityToken == "" && a.RegistryToken == "" {
		return nil, fmt.Errorf("the secret's .dockerconfigjson entry for %s has no username, auth or token", host)
	}
	return authn.FromConfig(authn.AuthConfig{Username: a.Username, Password: a.Password, IdentityToken: a.IdentityToken, RegistryToken: a.RegistryToken}), nil
}

// registryKey reduces a .dockerconfigjson key ("https://host/v1/",
// "host:5000") and a registry host to one form; Docker Hub has several
// names.
func registryKey(s string) string {
	s = strings.ToLower(strings.TrimSpace(s))
	s = strings.TrimPrefix(strings.TrimPrefix(s, "https://"), "http://")
	s, _, _ = strings.Cut(s, "/")
	switch s {
	case "docker.io", "registry-1.docker.io", "index.docker.io":
		return "index.docker.io"
	}
	return s
}
