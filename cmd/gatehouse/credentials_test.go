package main

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

func TestUserConfigDirFollowsXDG(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the XDG rules are the Unix ones")
	}
	tests := []struct {
		name string
		env  map[string]string
		want string
	}{
		{"XDG_CONFIG_HOME when absolute", map[string]string{"XDG_CONFIG_HOME": "/x/cfg", "HOME": "/home/ada"}, "/x/cfg"},
		{"a relative XDG_CONFIG_HOME is ignored", map[string]string{"XDG_CONFIG_HOME": "cfg", "HOME": "/home/ada"}, "/home/ada/.config"},
		{"HOME/.config otherwise", map[string]string{"HOME": "/home/ada"}, "/home/ada/.config"},
		{"neither is an error", map[string]string{}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := userConfigDir(func(k string) string { return tt.env[k] })
			if got != tt.want || (err != nil) != (tt.want == "") {
				t.Fatalf("userConfigDir = %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}

func TestCredentialsFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "gatehouse", "credentials.json")
	c := &credentials{Server: "https://auth.example.test", ClientID: "cli_gatehouse-cli", TokenEndpoint: "https://auth.example.test/oauth2/token",
		AccessToken: "eyJ.eyJ.sig", RefreshToken: "gate_rt_x", Expiry: time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)}

	if got, err := loadCredentials(path); got != nil || err != nil {
		t.Fatalf("no file: %+v, %v", got, err)
	}
	// A folder made before with loose permissions is tightened.
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := c.save(path); err != nil {
		t.Fatal(err)
	}
	got, err := loadCredentials(path)
	if err != nil || *got != *c {
		t.Fatalf("round trip: %+v, %v", got, err)
	}
	if runtime.GOOS != "windows" {
		if st, _ := os.Stat(path); st.Mode().Perm() != 0o600 {
			t.Errorf("file mode %v", st.Mode())
		}
		if st, _ := os.Stat(filepath.Dir(path)); st.Mode().Perm() != 0o700 {
			t.Errorf("folder mode %v", st.Mode())
		}
	}
	// Saving again replaces the file and leaves no temporary file behind.
	c.AccessToken = "eyJ.eyJ.two"
	if err := c.save(path); err != nil {
		t.Fatal(err)
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
		t.Errorf("the folder holds %d entries after two saves", len(entries))
	}

	for name, content := range map[string]string{
		"not JSON":             "{",
		"JSON of another kind": `{"server":"https://x"}`,
		"no access token":      `{"server":"https://x","client_id":"c","token_endpoint":"https://x/t"}`,
		"too large":            `{"server":"` + strings.Repeat("x", maxCredentialsFile) + `"}`,
	} {
		t.Run(name+" is refused, naming the file", func(t *testing.T) {
			if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
				t.Fatal(err)
			}
			if got, err := loadCredentials(path); got != nil || err == nil || !strings.Contains(err.Error(), path) {
				t.Fatalf("loadCredentials = %+v, %v", got, err)
			}
		})
	}
}

// FuzzLoadCredentials reads arbitrary files as the sign-in: an error or a
// sign-in with every field it needs, never a panic.
func FuzzLoadCredentials(f *testing.F) {
	good, _ := json.Marshal(credentials{Server: "https://a", ClientID: "c", TokenEndpoint: "https://a/t", AccessToken: "x"})
	for _, seed := range []string{string(good), "", "{", "null", "[]", `{"expiry":"yesterday"}`, `{"server":1}`} {
		f.Add(seed)
	}
	path := filepath.Join(f.TempDir(), "credentials.json")
	f.Fuzz(func(t *testing.T, content string) {
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		c, err := loadCredentials(path)
		if err == nil && (c == nil || c.Server == "" || c.AccessToken == "" || c.TokenEndpoint == "" || c.ClientID == "") {
			t.Fatalf("accepted %q as %+v", content, c)
		}
	})
}

func TestLoginRefusesServersWithoutTheDeviceGrant(t *testing.T) {
	tests := []struct {
		name     string
		status   int
		metadata string
		want     string
	}{
		{"not a Gatehouse server", http.StatusNotFound, "not found", "is it a Gatehouse server"},
		{"metadata without the device endpoint", http.StatusOK, `{"issuer":"x","token_endpoint":"https://a/token"}`, "does not offer the device authorization grant"},
		{"an endpoint that is not http(s)", http.StatusOK, `{"token_endpoint":"https://a/token","device_authorization_endpoint":"javascript:alert(1)"}`, "not an http(s) URL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(tt.status)
				w.Write([]byte(tt.metadata))
			}))
			defer srv.Close()
			_, err := deviceLogin(context.Background(), srv.Client(), srv.URL, new(strings.Builder))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("deviceLogin = %v, want %q", err, tt.want)
			}
		})
	}
}
