"""The Clerk replacement and a one-line how-to for each Auth.js construct.

Kept apart from the detectors so the wording can be read (and reviewed) in one
place. `where` is the file's place in the app: router ("app" | "pages" | None)
plus whether it runs on the client.
"""

from __future__ import annotations

from dataclasses import dataclass

SERVER = "@clerk/nextjs/server"
CLIENT = "@clerk/nextjs"
CLAIM = '{"userId": "{{user.external_id || user.id}}"}'


@dataclass(frozen=True)
class Where:
    router: str | None  # "app" | "pages" | None
    client: bool  # "use client", or a Pages Router page component
    kind: str  # human label: "client component", "API route", ...


def dependency(name: str, clerk_installed: bool) -> tuple[str, str]:
    if name == "next-auth":
        if clerk_installed:
            return CLIENT, "@clerk/nextjs is installed; uninstall next-auth once no import of it is left"
        return CLIENT, "npm install @clerk/nextjs; uninstall next-auth once no import of it is left"
    if "adapter" in name:
        return (
            "nothing (Clerk stores users and sessions)",
            f"Remove {name} after the cut-over; keep your own tables, keyed by the Clerk user id or external_id",
        )
    return CLIENT, f"Remove {name} once no import of it is left; Clerk's SDK covers it"


def import_module(spec: str) -> tuple[str, str, str]:
    """(clerk, howto, step) for an import from an Auth.js module."""
    if spec == "next-auth/react" or spec == "next-auth/client":
        return (
            CLIENT,
            "Import the client pieces from @clerk/nextjs: useAuth/useUser, ClerkProvider, SignInButton, SignOutButton",
            "client",
        )
    if spec == "next-auth/next":
        return SERVER, "Import auth/currentUser (App Router) or getAuth (Pages Router) from @clerk/nextjs/server", "server"
    if spec == "next-auth/middleware":
        return f"clerkMiddleware() from {SERVER}", "Rewrite the middleware with clerkMiddleware and createRouteMatcher", "middleware"
    if spec == "next-auth/jwt":
        return SERVER, "Read userId/sessionClaims from auth() or getAuth(req) instead of decoding the Auth.js JWT", "server"
    if spec.startswith("next-auth/providers") or spec.startswith("@auth/core/providers"):
        provider = spec.rsplit("/", 1)[-1]
        return (
            "a social connection in the Clerk Dashboard",
            f"Enable {provider} under SSO connections (production: your own OAuth client id/secret, Clerk's redirect URI)",
            "server",
        )
    if "adapter" in spec:
        return (
            "nothing (Clerk stores users and sessions)",
            "Drop the adapter after the cut-over; users are imported to Clerk, your tables keep their rows",
            "install",
        )
    return (
        SERVER,
        "NextAuth() and its options go away: Clerk is configured by its env keys and the Dashboard",
        "server",
    )


def session_provider(where: Where) -> tuple[str, str]:
    if where.router == "pages":
        return "<ClerkProvider>", "Wrap <Component {...pageProps} /> in pages/_app with <ClerkProvider {...pageProps}>"
    return (
        "<ClerkProvider>",
        "Put <ClerkProvider> around <html> in app/layout.tsx (works in the server layout; no 'use client' wrapper needed)",
    )


def server_session(name: str, where: Where, has_req: bool) -> tuple[str, str]:
    """getServerSession / v5 auth() / getSession({ req }) on the server."""
    if where.router == "pages" or has_req:
        return (
            f"getAuth(req) from {SERVER}",
            "const { userId } = getAuth(req) in API routes, getAuth(ctx.req) in getServerSideProps; "
            "clerkClient.users.getUser(userId) for the profile",
        )
    extra = " (same name: Clerk's is async and has no session.user)" if name == "auth" else ""
    return (
        f"auth() / currentUser() from {SERVER}",
        f"const {{ userId }} = await auth(){extra}; await currentUser() for name/email/image",
    )


def get_token(where: Where, has_req: bool) -> tuple[str, str]:
    if where.router == "pages" or has_req and where.router != "app":
        return f"getAuth(req) from {SERVER}", "token.sub -> getAuth(req).userId; custom JWT fields -> sessionClaims"
    return (
        f"auth() from {SERVER}",
        "token.sub -> (await auth()).userId; custom JWT fields -> sessionClaims (customize the session token)",
    )


def use_session() -> tuple[str, str]:
    return (
        f"useAuth() / useUser() from {CLIENT}",
        "const { isLoaded, isSignedIn, userId } = useAuth(); useUser() for the profile; status 'loading' -> !isLoaded",
    )


def client_get_session() -> tuple[str, str]:
    return (
        f"useAuth() / useUser() from {CLIENT}",
        "Read isSignedIn/userId from useAuth() (getToken() from useAuth() when an API needs a bearer token)",
    )


def sign_in(where: Where) -> tuple[str, str]:
    if where.client:
        return (
            "<SignInButton> or useClerk().openSignIn()",
            "Wrap the trigger in <SignInButton mode=\"modal\">; a provider button -> "
            "useSignIn().authenticateWithRedirect({ strategy: 'oauth_<provider>' })",
        )
    return (
        "<SignInButton> / auth().redirectToSignIn()",
        "Sign-in runs in the browser with Clerk: render <SignInButton> instead of the form action, "
        "or `const { redirectToSignIn } = await auth(); return redirectToSignIn()`",
    )


def sign_out(where: Where) -> tuple[str, str]:
    if where.client:
        return "<SignOutButton> or useClerk().signOut()", "Wrap the trigger in <SignOutButton> or call useClerk().signOut()"
    return "<SignOutButton> / <UserButton/>", "Sign-out runs in the browser with Clerk: render <SignOutButton> (or <UserButton/>)"


def csrf_or_providers(name: str) -> tuple[str, str]:
    return (
        "nothing (Clerk's components handle it)",
        f"Drop {name}(): <SignIn/> lists the enabled connections; a custom form uses useSignIn()",
    )


def middleware(routes: list[str]) -> tuple[str, str]:
    listed = ", ".join(f'"{r}"' for r in routes) if routes else "...the protected routes"
    return (
        f"clerkMiddleware() from {SERVER}",
        "export default clerkMiddleware(async (auth, req) => { if (isProtected(req)) await auth.protect() }) "
        f"with isProtected = createRouteMatcher([{listed}])",
    )


def matcher(routes: list[str], negative: bool) -> tuple[str, str]:
    if negative:
        return (
            "createRouteMatcher([...public routes]) + auth.protect()",
            "This matcher protects everything except the (?!...) paths: list those as public with "
            "createRouteMatcher and protect the rest; keep Clerk's own config.matcher",
        )
    return (
        "createRouteMatcher([...these routes]) + auth.protect()",
        "These are the routes Auth.js protected: pass them to createRouteMatcher and call auth.protect() "
        "for them; keep Clerk's own config.matcher (it must run on every route)",
    )


def auth_config(kind: str) -> tuple[str, str]:
    return (
        "nothing: env keys + the Clerk Dashboard",
        f"Delete the {kind} once nothing imports it: providers -> social connections; session/jwt callbacks "
        "-> session token customization; events -> webhooks",
    )


def nextauth_route() -> tuple[str, str]:
    return (
        "nothing (Clerk serves sign-in, OAuth callbacks and sessions)",
        "Delete this route after the cut-over; move any events/callbacks you relied on to Clerk webhooks",
    )


def sign_in_page(route: str, sign_up: bool) -> tuple[str, str]:
    component, var = ("<SignUp/>", "NEXT_PUBLIC_CLERK_SIGN_UP_URL") if sign_up else ("<SignIn/>", "NEXT_PUBLIC_CLERK_SIGN_IN_URL")
    return (
        f"{component} or the Account Portal",
        f"Render {component} on {route} (an optional catch-all route) and set {var}={route}, "
        "or drop the page and use the Account Portal",
    )


def conditional_ui() -> tuple[str, str]:
    return (
        "<SignedIn> / <SignedOut> (or isSignedIn from useAuth())",
        "Wrap signed-in UI in <SignedIn> and the rest in <SignedOut>; a loading state -> !isLoaded",
    )


def foreign_key(expr: str) -> tuple[str, str]:
    return (
        "userId from auth()/getAuth(req), or sessionClaims.userId",
        f"{expr} is your tables' Auth.js id: add the claim {CLAIM} (Sessions -> Customize session token) "
        "and read sessionClaims.userId, or rewrite the FK columns to Clerk ids (export-ids --sql)",
    )


def env_name(name: str) -> tuple[str, str]:
    if name in ("NEXTAUTH_SECRET", "AUTH_SECRET"):
        return (
            "CLERK_SECRET_KEY (+ NEXT_PUBLIC_CLERK_PUBLISHABLE_KEY)",
            "Set both Clerk keys in .env.local; remove this one after the cut-over",
        )
    if name in ("NEXTAUTH_URL", "NEXTAUTH_URL_INTERNAL", "AUTH_URL", "AUTH_TRUST_HOST", "AUTH_REDIRECT_PROXY_URL"):
        return "nothing (Clerk derives its URLs)", "Remove after the cut-over"
    if name.endswith(("_ID", "_SECRET", "_ISSUER", "_TENANT_ID")) and name.startswith("AUTH_"):
        return (
            "a social connection's credentials in the Clerk Dashboard",
            "Enter this OAuth client's id/secret under SSO connections and add Clerk's redirect URI to it",
        )
    return "nothing", "Auth.js setting: remove after the cut-over (check what reads it first)"
