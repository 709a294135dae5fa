package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os/exec"
	"regexp"
	"strings"
)

// The introspection scenarios: a resource server's client (registered with
// --introspect) asks POST /oauth/introspect about a user's access token,
// and about an API key, as a service that does not verify tokens itself
// would on every request (guard asks once per key, then holds the answer).

var clientLine = regexp.MustCompile(`client_id: (\S+)\nclient_secret: (\S+)`)

func measureIntrospection(client *http.Client, bin, db, base string, serverArgs []string, seeded []seededUser,
	measure func(name string, server int, work func(worker, i int) error), pid int) error {
	args := []string{"client", "add", "--db", db, "--name", "bench resource server", "--redirect-uri", "https://bench.example/cb", "--introspect"}
	for i, a := range serverArgs { // PostgreSQL's master key
		if a == "--master-key-file" && i+1 < len(serverArgs) {
			args = append(args, a, serverArgs[i+1])
		}
	}
	out, err := exec.Command(bin, args...).CombinedOutput()
	m := clientLine.FindStringSubmatch(string(out))
	if err != nil || m == nil {
		return fmt.Errorf("client add --introspect: %v: %s", err, out)
	}
	id, secret := m[1], m[2]
	keys := make([]string, len(seeded))
	for i, u := range seeded {
		var created struct{ Key string }
		if err := postBearer(client, base+"/me/api-keys", u.access, `{"name":"bench","scopes":["me:read"]}`, &created); err != nil {
			return err
		}
		keys[i] = created.Key
	}
	introspect := func(token string) error {
		req, _ := http.NewRequest(http.MethodPost, base+"/oauth/introspect", strings.NewReader(url.Values{"token": {token}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth(id, secret)
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		var answer struct{ Active bool }
		if err := jsonBody(resp, &answer); err != nil {
			return err
		}
		if resp.StatusCode != http.StatusOK || !answer.Active {
			return fmt.Errorf("introspect: %d, active %v", resp.StatusCode, answer.Active)
		}
		return nil
	}
	measure("POST /oauth/introspect (access token)", pid, func(w, i int) error { return introspect(seeded[(w+i)%len(seeded)].access) })
	measure("POST /oauth/introspect (API key)", pid, func(w, i int) error { return introspect(keys[(w+i)%len(keys)]) })
	return nil
}

// postBearer posts a JSON body with a bearer token and decodes the answer.
func postBearer(c *http.Client, url, bearer, body string, into any) error {
	req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+bearer)
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		b, _ := io.ReadAll(resp.Body)
		return &statusError{url: url, status: resp.StatusCode, body: b}
	}
	return jsonBody(resp, into)
}

func jsonBody(resp *http.Response, into any) error {
	return json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(into)
}
