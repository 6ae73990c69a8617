package dashboard

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/base64"
	"html/template"
	"io/fs"
	"net/http"
	"net/url"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/admin"
	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/internal/web"
)

//go:embed templates
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// view is what every page template gets: the common frame (title, the
// active navigation entry, who is signed in and their form token) and the
// page's own Data.
type view struct {
	Title  string
	Nav    string // the navigation entry to mark as current
	User   *auth.User
	Admin  bool
	CSRF   string
	Notice string // a confirmation shown once, after a redirect
	Data   any
}

// templates holds one template set per page: the layout, the shared
// partials and the page's own file, parsed once at start.
var templates = parseTemplates()

func parseTemplates() map[string]*template.Template {
	shared := []string{"templates/layout.html", "templates/partials.html"}
	names, err := fs.Glob(templateFS, "templates/*.html")
	if err != nil {
		panic(err)
	}
	sets := map[string]*template.Template{}
	for _, n := range names {
		base := path.Base(n)
		if base == "layout.html" || base == "partials.html" {
			continue
		}
		t := template.New(base).Funcs(funcs)
		sets[base] = template.Must(t.ParseFS(templateFS, append(shared, n)...))
	}
	return sets
}

// funcs are the helpers templates may call. None returns unescaped HTML.
var funcs = template.FuncMap{
	"static": staticURL,
	"date": func(t time.Time) string {
		if t.IsZero() {
			return "—"
		}
		return t.UTC().Format("2006-01-02 15:04 UTC")
	},
	"rfc3339": func(t time.Time) string {
		if t.IsZero() {
			return ""
		}
		return t.UTC().Format(time.RFC3339)
	},
	"join": strings.Join,
	"duration": func(d time.Duration) string {
		if d == 0 {
			return "—"
		}
		return auth.FormatDuration(d)
	},
	// with returns the query of u with name set to value, for links that
	// change one filter or the page and keep the others.
	"with": func(u *url.URL, name, value string) string {
		q := u.Query()
		if value == "" {
			q.Del(name)
		} else {
			q.Set(name, value)
		}
		if len(q) == 0 {
			return u.Path
		}
		return u.Path + "?" + q.Encode()
	},
	"add": func(a, b int) int { return a + b },
}

// show renders a page for the signed-in viewer.
func (s *Server) show(w http.ResponseWriter, r *http.Request, v *viewer, status int, name string, vw *view) {
	if v != nil {
		vw.User, vw.Admin, vw.CSRF = v.user, v.admin(), v.csrf
	}
	if vw.Notice == "" {
		vw.Notice = notices[r.URL.Query().Get("done")]
	}
	s.render(w, r, status, name, vw)
}

// render executes a page into a buffer first, so a failing template never
// sends half a page.
func (s *Server) render(w http.ResponseWriter, r *http.Request, status int, name string, vw *view) {
	t, ok := templates[name]
	var buf bytes.Buffer
	if !ok {
		s.logger.ErrorContext(r.Context(), "dashboard: no such template", "template", name)
		http.Error(w, "Internal error.", http.StatusInternalServerError)
		return
	}
	if err := t.ExecuteTemplate(&buf, "layout", vw); err != nil {
		s.logger.ErrorContext(r.Context(), "dashboard: render", "template", name, "err", err)
		http.Error(w, "Internal error.", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	web.SetScriptedHeaders(h, nil)
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Length", strconv.Itoa(buf.Len()))
	w.WriteHeader(status)
	if r.Method != http.MethodHead {
		w.Write(buf.Bytes())
	}
}

// notices are the confirmations a redirect after a change may ask for
// (?done=...): a fixed list, so a link cannot put words on the page.
var notices = map[string]string{
	"created":       "Created.",
	"updated":       "Saved.",
	"deleted":       "Deleted.",
	"revoked":       "Revoked. It is refused everywhere from now on.",
	"rotated":       "Rotated.",
	"enabled":       "Enabled.",
	"disabled":      "Disabled. Its sessions have ended.",
	"reset":         "The password was reset and the user's sessions have ended.",
	"retried":       "Queued for another attempt.",
	"factors_reset": "The second factors were removed and the user's sessions have ended.",
}

// errorData is the error page's content.
type errorData struct {
	Status  int
	Message string
}

// fail answers an error with a page: the status by the admin API's table
// (one mapping for both transports), the message safe for the browser. An
// internal error is logged and told as one, without details.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, err error) {
	status, title := admin.StatusOf(err)
	if status >= 500 {
		s.logger.ErrorContext(r.Context(), "dashboard", "path", r.URL.Path, "err", err)
	}
	if auth.ErrorCode(err) == auth.ENOTFOUND && strings.Contains(auth.ErrorMessage(err), "no such page") {
		title = "Page not found"
	}
	s.render(w, r, status, "error.html", &view{Title: title, Data: errorData{Status: status, Message: auth.ErrorMessage(err)}})
}

// The static files, served with an immutable URL: their content hash is
// in the query, so a new binary's files are never taken from a cache.
var staticHashes = func() map[string]string {
	m := map[string]string{}
	entries, err := fs.ReadDir(staticFS, "static")
	if err != nil {
		panic(err)
	}
	for _, e := range entries {
		b, err := fs.ReadFile(staticFS, "static/"+e.Name())
		if err != nil {
			panic(err)
		}
		sum := sha256.Sum256(b)
		m[e.Name()] = base64.RawURLEncoding.EncodeToString(sum[:9])
	}
	return m
}()

func staticURL(name string) string {
	return "/dashboard/static/" + name + "?v=" + staticHashes[name]
}

// staticHandler serves the embedded stylesheet and script.
func staticHandler() http.Handler {
	files := http.FileServerFS(staticFS)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		name := strings.TrimPrefix(r.URL.Path, "/dashboard/static/")
		if _, ok := staticHashes[name]; !ok {
			http.NotFound(w, r)
			return
		}
		h := w.Header()
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Content-Security-Policy", "default-src 'none'")
		if r.URL.Query().Get("v") == staticHashes[name] {
			h.Set("Cache-Control", "public, max-age=31536000, immutable")
		} else {
			h.Set("Cache-Control", "no-cache")
		}
		r2 := r.Clone(r.Context())
		r2.URL.Path = "/static/" + name
		files.ServeHTTP(w, r2)
	})
}

// pathID reads a path value and refuses one no record could have, before
// any store work.
func pathID(r *http.Request, name string) (string, error) {
	id := r.PathValue(name)
	if id == "" || len(id) > 200 || strings.ContainsAny(id, "/\x00") {
		return "", auth.Errorf(auth.ENOTFOUND, "There is no such page.")
	}
	return id, nil
}

// redirectDone sends the browser to target after a change, with the
// notice to show there (one of notices' keys).
func redirectDone(w http.ResponseWriter, r *http.Request, target, done string) {
	sep := "?"
	if strings.Contains(target, "?") {
		sep = "&"
	}
	http.Redirect(w, r, target+sep+"done="+url.QueryEscape(done), http.StatusSeeOther)
}
