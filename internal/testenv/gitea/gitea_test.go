package gitea

import (
	"net/http"
	"testing"
)

func TestStart(t *testing.T) {
	s := Start(t)
	clone := s.CreateRepo(t, "fleet")
	if want := s.URL + "/" + s.User + "/fleet.git"; clone != want {
		t.Errorf("clone URL = %q, want %q", clone, want)
	}
	var me struct {
		Login   string `json:"login"`
		IsAdmin bool   `json:"is_admin"`
	}
	if err := s.Do(http.MethodGet, "/api/v1/user", nil, &me); err != nil {
		t.Fatal(err)
	}
	if me.Login != s.User || !me.IsAdmin {
		t.Errorf("token user = %+v, want admin %s", me, s.User)
	}
}
