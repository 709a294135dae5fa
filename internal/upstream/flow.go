package upstream

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"
	"unicode"

	"github.com/gatehouse-auth/gatehouse/internal/auth"
	"golang.org/x/oauth2"
)

// FlowTTL is how long a login through a provider may take, from the
// button to the callback.
const FlowTTL = 10 * time.Minute

// PendingLinkTTL is how long a pending link waits for its user to sign in.
const PendingLinkTTL = 10 * time.Minute

// flow is one login through a provider, carried by the browser in a sealed
// cookie (FlowCookie): the state the callback must echo, the nonce the ID
// token must carry, the PKCE verifier, where to go after, and for a link
// or a re-authentication from the security page, the signed-in user and
// session. Only this browser has it; the single-use record is the ceremony
// of the state's hash.
type flow struct {
	Provider string `json:"p"`
	State    string `json:"s"`
	Nonce    string `json:"n"`
	Verifier string `json:"v"`
	Next     string `json:"x,omitempty"`
	LinkUser string `json:"u,omitempty"`
	// LinkSession is the session that asked for the link (or the
	// re-authentication): it must still be live at the callback.
	LinkSession string `json:"ls,omitempty"`
	// Reauth: the flow confirms LinkSession by a fresh sign-in through
	// LinkUser's identity at the provider, which began at StartedAt.
	Reauth    bool  `json:"r,omitempty"`
	StartedAt int64 `json:"t"` // Unix ms
	ExpiresAt int64 `json:"e"` // Unix ms
}

var flowAAD = []byte("gatehouse upstream flow")

const ceremonyPurpose = "upstream"

// BeginInput starts a login through a provider (or, with LinkUserID, the
// link of a provider identity to a signed-in account).
type BeginInput struct {
	ProviderID string
	Next       string // a local path, checked by the caller (web.safeNext)
	LinkUserID string
	// LinkSessionID is the signed-in session asking for a link: it must
	// have signed in recently (the re-authentication rule).
	LinkSessionID string
	// ReauthUserID and ReauthSessionID ask to confirm that signed-in
	// session by a fresh sign-in through the user's identity at the
	// provider (BeginReauth's rules), instead of a login or a link.
	ReauthUserID, ReauthSessionID string
	Client                        auth.Client
}

// Begin answers where to send the browser (the provider's authorization
// URL) and the sealed flow to keep in its cookie until the callback.
func (s *Service) Begin(ctx context.Context, in BeginInput) (redirect, cookie string, err error) {
	ctx = auth.WithClient(ctx, in.Client)
	p, err := s.store.Provider(ctx, in.ProviderID)
	if auth.ErrorCode(err) == auth.CodeNotFound {
		s.failed(ctx, "", in.ProviderID, "unknown provider")
		return "", "", errUnknownProvider
	} else if err != nil {
		return "", "", err
	}
	if in.LinkUserID != "" {
		if err := s.sessions.RequireRecentAuth(ctx, in.LinkSessionID); err != nil {
			return "", "", err
		}
	}
	reauth := in.ReauthUserID != ""
	if reauth {
		if err := s.mayReauthenticate(ctx, p, in.ReauthUserID, in.ReauthSessionID); err != nil {
			return "", "", err
		}
		in.LinkUserID, in.LinkSessionID = in.ReauthUserID, in.ReauthSessionID
	}
	conf, err := s.oauthConfig(ctx, p)
	if err != nil {
		s.failed(ctx, in.LinkUserID, p.ID, "provider unreachable: "+err.Error())
		return "", "", errProviderDown
	}
	now := s.now()
	f := flow{Provider: p.ID, State: rand.Text(), Nonce: rand.Text(), Verifier: oauth2.GenerateVerifier(),
		Next: in.Next, LinkUser: in.LinkUserID, LinkSession: in.LinkSessionID, Reauth: reauth,
		StartedAt: now.UnixMilli(), ExpiresAt: now.Add(FlowTTL).UnixMilli()}
	plain, _ := json.Marshal(f)
	sealed, err := s.sealer.Seal(plain, flowAAD)
	if err != nil {
		return "", "", fmt.Errorf("seal flow: %w", err)
	}
	if err := s.store.CreateCeremony(ctx, auth.Ceremony{Hash: stateHash(f.State), Purpose: ceremonyPurpose,
		UserID: in.LinkUserID, Session: []byte(`{}`), CreatedAt: now, ExpiresAt: now.Add(FlowTTL)}); err != nil {
		return "", "", fmt.Errorf("begin upstream login: %w", err)
	}
	opts := []oauth2.AuthCodeOption{oauth2.S256ChallengeOption(f.Verifier)}
	if p.Kind == KindOIDC {
		opts = append(opts, oauth2.SetAuthURLParam("nonce", f.Nonce))
	}
	if reauth { // the user signs in again at the provider, whatever session it has (OIDC Core 3.1.2.1)
		opts = append(opts, oauth2.SetAuthURLParam("prompt", "login"), oauth2.SetAuthURLParam("max_age", "0"))
	}
	return conf.AuthCodeURL(f.State, opts...), encodeCookie(sealed), nil
}

func stateHash(state string) string {
	sum := sha256.Sum256([]byte("gatehouse upstream state\x00" + state))
	return hex.EncodeToString(sum[:])
}

// The sentences a failed callback ends with, on the login page. Each names
// what the user can do; none says more than that about the account.
var (
	errUnknownProvider = auth.Errorf(auth.CodeNotFound, "That sign-in provider is not available here.")
	errFlowLost        = auth.Errorf(auth.CodeInvalidRequest, "This sign-in expired or was started in another browser; start again.")
	errDenied          = auth.Errorf(auth.CodeInvalidRequest, "The sign-in was cancelled at the provider; start again to continue.")
	errProviderDown    = auth.Errorf(auth.CodeUnavailable, "The provider did not answer in time; try again in a moment.")
	errRefused         = auth.Errorf(auth.CodeInvalidCredentials, "The provider's answer could not be verified; start again.")
	errOffsite         = auth.Errorf(auth.CodeInvalidRequest, "The page to return to after signing in must be on this site.")
	errLinkedElsewhere = auth.Errorf(auth.CodeAlreadyExists, "This provider account is linked to another account here.")
	errNoEmail         = auth.Errorf(auth.CodeInvalidRequest, "The provider shared no email address; allow it to share one, or sign up with a password.")
	errUnverifiedTaken = auth.Errorf(auth.CodeAlreadyExists, "An account with this email exists. Sign in to it, then link this provider from the Security page.")
	// ErrLinkPending is the callback's answer when the provider's verified
	// email is an account's: the user signs in to that account, which
	// links the identity (Result.PendingLink).
	ErrLinkPending = auth.Errorf(auth.CodeAlreadyExists, "An account with this email exists: sign in to it to link this provider.")
)

// Refuse audits a login through a provider that the caller refused before
// it started (a next off this site) and returns the sentence to show.
func (s *Service) Refuse(ctx context.Context, providerID string, c auth.Client) error {
	s.failed(auth.WithClient(ctx, c), "", providerID, "next is not a local path")
	return errOffsite
}

// FinishInput is the provider's answer at the callback.
type FinishInput struct {
	ProviderID string
	Query      url.Values // code, state, or error
	Cookie     string     // the flow cookie, "" when none came
	// SignedIn reads the browser's signed-in session at the callback
	// ("" for none; nil: none): a re-authentication is only that
	// session's. Only a re-authentication's callback calls it.
	SignedIn func() (userID, sessionID string)
	Client   auth.Client
}

// Result is a finished callback: a signed-in session (Tokens), the second
// step of a login (MFA), an identity linked to the signed-in user
// (Linked), or the signed-in session confirmed (Reauthenticated, with its
// new Tokens). Next is where the browser goes after.
type Result struct {
	Tokens          *auth.Tokens
	MFA             *auth.MFARequired
	Linked          bool
	Reauthenticated bool
	// Reauth: the callback was a re-authentication's, done or refused
	// (the page to end on is the security page, not the login page).
	Reauth bool
	Next   string
	// PendingLink, with ErrLinkPending: the sealed link to keep in the
	// browser (PendingCookie) until its account signs in.
	PendingLink string
	// FlowKept: the callback did not answer the browser's flow (another
	// state or provider: a forged or stray callback, refused), and that
	// flow stays live for its own callback: keep its cookie. Otherwise the
	// flow is spent, or unusable, and its cookie goes.
	FlowKept bool
}

// Finish checks the provider's answer and applies the linking rules. Every
// failure is audited (upstream_login_failed with the reason), answers one
// sentence and creates or links nothing. A callback that is not the
// answer to the browser's flow (another state or provider) leaves that
// flow live (Result.FlowKept): a forged callback the attacker makes the
// victim's browser request does not cancel the victim's login. Any other
// callback spends the flow, once.
func (s *Service) Finish(ctx context.Context, in FinishInput) (*Result, error) {
	ctx = auth.WithClient(ctx, in.Client)
	f, err := s.openFlow(in.Cookie)
	if err != nil {
		s.failed(ctx, "", in.ProviderID, "no flow cookie, or an expired or unreadable one (another browser, a forged callback)")
		return nil, errFlowLost
	}
	res, err := s.finish(ctx, in, f)
	if res == nil && f.Reauth {
		res = &Result{Reauth: true}
	}
	return res, err
}

// signedInAs reports whether the browser's session is sessionID of userID.
func (in FinishInput) signedInAs(userID, sessionID string) bool {
	if in.SignedIn == nil {
		return false
	}
	u, sess := in.SignedIn()
	return u == userID && sess == sessionID && sess != ""
}

// finish is Finish once the browser's flow f is open.
func (s *Service) finish(ctx context.Context, in FinishInput, f flow) (*Result, error) {
	if f.Provider != in.ProviderID || subtle.ConstantTimeCompare([]byte(f.State), []byte(in.Query.Get("state"))) != 1 {
		s.failed(ctx, "", in.ProviderID, "the flow's state or provider differ (a forged or stray callback); the flow in progress is kept")
		return &Result{FlowKept: true}, errFlowLost
	}
	if _, err := s.store.TakeCeremony(ctx, stateHash(f.State), ceremonyPurpose, s.now()); auth.ErrorCode(err) == auth.CodeNotFound {
		s.failed(ctx, f.LinkUser, f.Provider, "callback replayed or expired")
		return nil, errFlowLost
	} else if err != nil {
		return nil, err
	}
	if f.Reauth && !in.signedInAs(f.LinkUser, f.LinkSession) {
		s.failed(ctx, f.LinkUser, f.Provider, "the re-authentication was started by another session than the browser's at the callback")
		return nil, errFlowLost
	}
	p, err := s.store.Provider(ctx, f.Provider)
	if auth.ErrorCode(err) == auth.CodeNotFound {
		s.failed(ctx, f.LinkUser, f.Provider, "provider removed during the login")
		return nil, errUnknownProvider
	} else if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	defer cancel()
	// Which server answered comes first: nothing of another's answer, not
	// even its error, is acted on.
	tenantIssuer, err := s.checkResponseIssuer(ctx, p, in.Query)
	if err != nil {
		return nil, s.providerFailed(ctx, f.LinkUser, p, err)
	}
	if f.LinkUser != "" {
		if _, err := s.sessions.BrowserSession(ctx, f.LinkSession, f.LinkUser); auth.ErrorCode(err) == auth.CodeNotFound {
			what := "link"
			if f.Reauth {
				what = "re-authentication"
			}
			s.failed(ctx, f.LinkUser, f.Provider, "the session that asked for the "+what+" has ended")
			return nil, errFlowLost
		} else if err != nil {
			return nil, err
		}
	}
	if e := in.Query.Get("error"); e != "" {
		s.failed(ctx, f.LinkUser, f.Provider, "provider answered error "+truncate(e, 64))
		return nil, errDenied
	}
	w, tok, err := s.identify(ctx, p, f, in.Query.Get("code"), tenantIssuer)
	if err != nil {
		return nil, s.providerFailed(ctx, f.LinkUser, p, err)
	}
	sealed, err := s.sealFor(p, w.Subject, tok)
	if err != nil {
		return nil, err
	}
	res := &Result{Next: f.Next, Reauth: f.Reauth}
	if f.Reauth {
		return res, s.reauthenticate(ctx, p, w, f, sealed, res)
	}
	if f.LinkUser != "" {
		return res, s.linkToSignedIn(ctx, p, w, f.LinkUser, sealed, res)
	}
	return res, s.login(ctx, p, w, sealed, in.Client, res)
}

// providerFailed audits a failed exchange with the provider and returns
// its sentence: an answer that fails a check (a rejection), or none.
func (s *Service) providerFailed(ctx context.Context, userID string, p Provider, err error) error {
	var rej *rejection
	if errors.As(err, &rej) {
		s.failed(ctx, userID, p.ID, rej.reason)
		return errRefused
	}
	s.failed(ctx, userID, p.ID, "provider unreachable: "+truncate(err.Error(), 200))
	return errProviderDown
}

func (s *Service) openFlow(cookie string) (flow, error) {
	var f flow
	sealed, err := decodeCookie(cookie)
	if err != nil {
		return f, err
	}
	plain, err := s.sealer.Open(sealed, flowAAD)
	if err != nil {
		return f, err
	}
	if err := json.Unmarshal(plain, &f); err != nil {
		return f, err
	}
	if s.now().UnixMilli() >= f.ExpiresAt {
		return f, errors.New("flow expired")
	}
	return f, nil
}

// who is the person a provider vouched for.
type who struct {
	Subject       string
	Email         string // canonical; "" when none or not a valid address
	EmailVerified bool
	Name          string
	// AuthTime is when the user last signed in at the provider, as its ID
	// token's auth_time says (zero: it did not say; github never does).
	AuthTime time.Time
}

// rejection is an answer of the provider that fails a check (a token from
// another issuer, for another audience, expired, a wrong nonce): the
// provider answered, and the answer is refused.
type rejection struct{ reason string }

func (r *rejection) Error() string { return r.reason }

func reject(format string, args ...any) error {
	return &rejection{reason: fmt.Sprintf(format, args...)}
}

// login applies the linking rules to a login (no one signed in).
func (s *Service) login(ctx context.Context, p Provider, w who, sealed []byte, c auth.Client, res *Result) error {
	ident, err := s.store.IdentityBySubject(ctx, p.ID, w.Subject)
	switch {
	case err == nil: // known: its user
		return s.signIn(ctx, p, ident, w, sealed, c, res, "known identity")
	case auth.ErrorCode(err) != auth.CodeNotFound:
		return err
	}
	ident = Identity{ID: newID(), ProviderID: p.ID, Subject: w.Subject, Email: w.Email, CreatedAt: s.now(), LastLoginAt: s.now(),
		SealedTokens: sealed}
	if w.Email == "" {
		s.failed(ctx, "", p.ID, "no usable email from the provider, subject "+w.Subject)
		return errNoEmail
	}
	existing, _, err := s.store.UserCredentials(ctx, w.Email)
	switch {
	case auth.ErrorCode(err) == auth.CodeNotFound:
		return s.signUp(ctx, p, ident, w, c, res)
	case err != nil:
		return err
	case !w.EmailVerified: // never links, whatever the provider's trust
		s.failed(ctx, existing.ID, p.ID, "the provider's unverified email matches an account; nothing linked")
		return errUnverifiedTaken
	case p.TrustEmail:
		ident.UserID = existing.ID
		if err := s.store.AddIdentity(ctx, ident); err != nil {
			return s.linkError(ctx, existing.ID, p, err)
		}
		s.accounts.Audit(ctx, EventIdentityLinked, existing.ID, "provider "+p.ID+" subject "+w.Subject+": verified email of a trusted provider")
		return s.signIn(ctx, p, ident, w, nil, c, res, "linked by trusted email")
	default:
		pending, err := s.sealPending(pendingLink{Provider: p.ID, Subject: w.Subject, Email: w.Email, UserID: existing.ID,
			ExpiresAt: s.now().Add(PendingLinkTTL).UnixMilli()})
		if err != nil {
			return err
		}
		res.PendingLink = pending
		s.failed(ctx, existing.ID, p.ID, "verified email matches an account; link pending until it signs in")
		return ErrLinkPending
	}
}

// signUp creates the account of a new identity, its email verified as the
// provider asserts.
func (s *Service) signUp(ctx context.Context, p Provider, ident Identity, w who, c auth.Client, res *Result) error {
	name, err := auth.CleanName(w.Name)
	if err != nil {
		name = ""
	}
	u := auth.User{ID: newID(), Email: w.Email, Name: name, Role: auth.RoleUser, CreatedAt: s.now(), EmailVerified: w.EmailVerified}
	ident.UserID = u.ID
	if err := s.store.CreateUserWithIdentity(ctx, u, ident); auth.ErrorCode(err) == auth.CodeAlreadyExists {
		// Another login of the same person, or an account with the email, won the race.
		s.failed(ctx, "", p.ID, "account or identity created concurrently")
		return errFlowLost
	} else if err != nil {
		return fmt.Errorf("upstream sign-up: %w", err)
	}
	s.accounts.Audit(ctx, auth.EventRegistered, u.ID, fmt.Sprintf("through provider %s, email verified %t", p.ID, w.EmailVerified))
	s.accounts.Audit(ctx, EventIdentityLinked, u.ID, "provider "+p.ID+" subject "+w.Subject+": new account")
	return s.signIn(ctx, p, ident, w, nil, c, res, "new account")
}

// signIn starts the session of ident's user (or the second step).
func (s *Service) signIn(ctx context.Context, p Provider, ident Identity, w who, sealed []byte, c auth.Client, res *Result, how string) error {
	u, err := s.accounts.User(ctx, ident.UserID)
	if err != nil {
		return err
	}
	tokens, err := s.sessions.FederatedLogin(ctx, u, p.ID, c)
	var mr *auth.MFARequired
	if err != nil && !errors.As(err, &mr) {
		s.failed(ctx, u.ID, p.ID, "session refused: "+auth.ErrorMessage(err))
		return err
	}
	// The provider vouched for the person: its email now, and its tokens.
	if err := s.store.IdentityLogin(ctx, ident.ID, w.Email, sealed, s.now()); err != nil {
		return err
	}
	if mr != nil {
		res.MFA = mr
		s.accounts.Audit(ctx, EventUpstreamLogin, u.ID, "provider "+p.ID+" ("+how+"); second factor required")
		return nil
	}
	res.Tokens = tokens
	s.accounts.Audit(ctx, EventUpstreamLogin, u.ID, "provider "+p.ID+" ("+how+"), session "+tokens.SessionID)
	return nil
}

// linkToSignedIn links the identity to the signed-in user who asked.
func (s *Service) linkToSignedIn(ctx context.Context, p Provider, w who, userID string, sealed []byte, res *Result) error {
	ident, err := s.store.IdentityBySubject(ctx, p.ID, w.Subject)
	if err == nil {
		if ident.UserID != userID {
			s.failed(ctx, userID, p.ID, "identity linked to another account")
			return errLinkedElsewhere
		}
		res.Linked = true
		return s.store.IdentityLogin(ctx, ident.ID, w.Email, sealed, s.now())
	} else if auth.ErrorCode(err) != auth.CodeNotFound {
		return err
	}
	now := s.now()
	ident = Identity{ID: newID(), UserID: userID, ProviderID: p.ID, Subject: w.Subject, Email: w.Email, CreatedAt: now,
		LastLoginAt: now, SealedTokens: sealed}
	if err := s.store.AddIdentity(ctx, ident); err != nil {
		return s.linkError(ctx, userID, p, err)
	}
	s.accounts.Audit(ctx, EventIdentityLinked, userID, "provider "+p.ID+" subject "+w.Subject+": from a signed-in session")
	res.Linked = true
	return nil
}

func (s *Service) linkError(ctx context.Context, userID string, p Provider, err error) error {
	if auth.ErrorCode(err) == auth.CodeAlreadyExists {
		s.failed(ctx, userID, p.ID, "identity linked to another account")
		return errLinkedElsewhere
	}
	return err
}

// failed audits a refused upstream login with its reason. Parts of it come
// from outside (a provider id in the URL, the provider's error, claims
// quoted by the verifier): control characters are dropped.
func (s *Service) failed(ctx context.Context, userID, providerID, reason string) {
	s.accounts.Audit(ctx, EventUpstreamLoginFailed, userID, printable("provider "+truncate(providerID, 64)+": "+reason))
}

func printable(s string) string {
	return strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return -1
		}
		return r
	}, strings.ToValidUTF8(s, ""))
}

// pendingLink is an identity waiting for the account with its verified
// email to sign in, sealed in the browser that met it (PendingCookie).
type pendingLink struct {
	Provider  string `json:"p"`
	Subject   string `json:"s"`
	Email     string `json:"m"`
	UserID    string `json:"u"`
	ExpiresAt int64  `json:"e"`
}

var pendingAAD = []byte("gatehouse upstream pending link")

func (s *Service) sealPending(pl pendingLink) (string, error) {
	plain, _ := json.Marshal(pl)
	sealed, err := s.sealer.Seal(plain, pendingAAD)
	if err != nil {
		return "", err
	}
	return encodeCookie(sealed), nil
}

// CompletePendingLink links the pending identity of cookie once the account
// it waits for has signed in (userID, the session just started): a link
// for another account, expired or malformed, links nothing. It reports
// whether it linked.
func (s *Service) CompletePendingLink(ctx context.Context, cookie, userID string, c auth.Client) bool {
	sealed, err := decodeCookie(cookie)
	if err != nil {
		return false
	}
	plain, err := s.sealer.Open(sealed, pendingAAD)
	var pl pendingLink
	if err != nil || json.Unmarshal(plain, &pl) != nil || s.now().UnixMilli() >= pl.ExpiresAt || pl.UserID != userID {
		return false
	}
	ctx = auth.WithClient(ctx, c)
	if _, err := s.store.Provider(ctx, pl.Provider); err != nil {
		return false
	}
	now := s.now()
	err = s.store.AddIdentity(ctx, Identity{ID: newID(), UserID: userID, ProviderID: pl.Provider, Subject: pl.Subject,
		Email: pl.Email, CreatedAt: now, LastLoginAt: now})
	if err != nil {
		if auth.ErrorCode(err) != auth.CodeAlreadyExists {
			s.log.Error("pending link failed", "err", err)
		}
		return false
	}
	s.accounts.Audit(ctx, EventIdentityLinked, userID, "provider "+pl.Provider+" subject "+pl.Subject+": after the account signed in")
	return true
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}
