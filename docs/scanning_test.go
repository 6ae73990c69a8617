package docs_test

import (
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/apikey"
	"github.com/gatehouse-dev/gatehouse/internal/auth"
)

// scanningRules reads the secret-scanning rules api-keys.md publishes: the
// gitleaks rule's regex and keywords, and the GitHub custom pattern's three
// fields, assembled as GitHub does (before, secret, after).
func scanningRules(t *testing.T) (gitleaks *regexp.Regexp, keywords []string, github *regexp.Regexp) {
	t.Helper()
	b, err := os.ReadFile("api-keys.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	m := regexp.MustCompile("(?s)```toml\n\\[\\[rules\\]\\]\n.*?regex = '''(.*?)'''\nkeywords = \\[(.*?)\\]\n```").FindStringSubmatch(doc)
	if m == nil {
		t.Fatal("api-keys.md has no gitleaks rule (a ```toml [[rules]] block with regex and keywords)")
	}
	gitleaks = regexp.MustCompile(m[1])
	for _, k := range strings.Split(m[2], ",") {
		keywords = append(keywords, strings.Trim(strings.TrimSpace(k), `"`))
	}
	field := func(name string) string {
		t.Helper()
		m := regexp.MustCompile("(?m)^\\| " + name + " \\| `([^`]+)`").FindStringSubmatch(doc)
		if m == nil {
			t.Fatalf("api-keys.md's GitHub custom pattern has no %q row", name)
		}
		return strings.ReplaceAll(m[1], `\|`, "|") // a | escaped for the table
	}
	// GitHub matches the secret between its before and after expressions;
	// the secret is the submatch.
	github = regexp.MustCompile("(?:" + field("Before secret") + ")(" + field("Secret format") + ")(?:" + field("After secret") + ")")
	if test := field("Test string"); !github.MatchString(test) || !gitleaks.MatchString(test) {
		t.Errorf("the documented test string %q does not match the documented rules", test)
	} else if _, err := apikey.Parse(test); err != nil {
		t.Errorf("the documented test string is not a key: %v", err)
	}
	return gitleaks, keywords, github
}

func TestScanningRulesFindGeneratedKeys(t *testing.T) {
	gitleaks, keywords, github := scanningRules(t)
	for _, env := range auth.KeyEnvironments {
		prefix := apikey.EnvironmentPrefix("sk_live_", env)
		for range 20 {
			key, err := apikey.Generate(prefix)
			if err != nil {
				t.Fatal(err)
			}
			for _, text := range []string{
				key,
				"GATEHOUSE_KEY=" + key + "\n",
				"MY_" + key,
				`{"api_key": "` + key + `"}`,
				"curl -H 'X-API-Key: " + key + "' https://api.example",
			} {
				if got := gitleaks.FindAllString(text, -1); len(got) != 1 || got[0] != key {
					t.Fatalf("gitleaks rule in %q found %q, want the key", text, got)
				}
				if got := github.FindAllStringSubmatch(text, -1); len(got) != 1 || got[0][1] != key {
					t.Fatalf("GitHub pattern in %q found %q, want the key", text, got)
				}
			}
			found := false
			for _, k := range keywords {
				found = found || strings.Contains(strings.ToLower(key), strings.ToLower(k))
			}
			if !found {
				t.Fatalf("no gitleaks keyword %q is in a %s key: gitleaks would skip it", keywords, env)
			}
		}
	}
}

func TestScanningRulesSkipMangledKeys(t *testing.T) {
	gitleaks, _, github := scanningRules(t)
	key, err := apikey.Generate("sk_live_")
	if err != nil {
		t.Fatal(err)
	}
	for name, text := range map[string]string{
		"one character short":  key[:len(key)-1] + " ",
		"one character longer": key + "A",
		"upper-case prefix":    strings.ToUpper(key[:8]) + key[8:],
		"another environment":  "sk_prod_" + key[8:],
		"glued to a word":      "x" + strings.Replace(key, "_", "", 1),
		"not base62":           key[:20] + "-" + key[21:],
	} {
		if gitleaks.MatchString(text) {
			t.Errorf("%s: the gitleaks rule matches %q", name, text)
		}
		if github.MatchString(text) {
			t.Errorf("%s: the GitHub pattern matches %q", name, text)
		}
	}
	// A match with a broken checksum is left to apikey.Parse, as the
	// documentation says.
	broken := key[:len(key)-1] + map[bool]string{true: "B", false: "A"}[strings.HasSuffix(key, "A")]
	if !gitleaks.MatchString(broken) {
		t.Fatal("the rule should match the shape, whatever the checksum")
	}
	if _, err := apikey.Parse(broken); err == nil {
		t.Fatal("Parse accepted a broken checksum")
	}
}
