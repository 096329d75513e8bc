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


def middleware(routes: list[str], file_name: str = "") -> tuple[str, str]:
    listed = ", ".join(f'"{r}"' for r in routes) if routes else "...the protected routes"
    where = f" in {file_name}" if file_name else ""
    return (
        f"clerkMiddleware() from {SERVER}",
        f"export default clerkMiddleware(async (auth, req) => {{ if (isProtected(req)) await auth.protect() }}){where} "
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


def conditional_ui(core3: bool = True) -> tuple[str, str]:
    if core3:
        return (
            '<Show when="signed-in"> / <Show when="signed-out"> (or isSignedIn from useAuth())',
            'Wrap signed-in UI in <Show when="signed-in"> and the rest in <Show when="signed-out"> '
            "(Core 3 removed <SignedIn>/<SignedOut>); a loading state -> !isLoaded",
        )
    return (
        "<SignedIn> / <SignedOut> (or isSignedIn from useAuth())",
        "Wrap signed-in UI in <SignedIn> and the rest in <SignedOut> (@clerk/nextjs 6, Core 2); "
        "a loading state -> !isLoaded",
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


# --- the app-level advice (Finish step, `scan-app` listing, JSON `advice`) ---------------------

CORE3_GUIDE = "clerk.com/docs/guides/development/upgrading/upgrade-guides/core-3"
QUICKSTART = "clerk.com/docs/nextjs/getting-started/quickstart (App Router), clerk.com/docs/quickstarts/nextjs-pages-router"
NEXT_MATCHER = (
    "/((?!_next|[^?]*\\\\.(?:html?|css|js(?!on)|jpe?g|webp|png|gif|svg|ttf|woff2?|ico|csv|docx?|xlsx?|zip|webmanifest)).*)"
)


def route_matcher_code(routes: list[str], file_name: str) -> str:
    """The middleware/proxy file Clerk's docs give, protecting `routes` (Auth.js's matcher)."""
    listed = ", ".join(f'"{clerk_route(r)}"' for r in routes)
    return (
        f"// {file_name}\n"
        'import { clerkMiddleware, createRouteMatcher } from "@clerk/nextjs/server";\n\n'
        f"const isProtectedRoute = createRouteMatcher([{listed}]);\n\n"
        "export default clerkMiddleware(async (auth, req) => {\n"
        "  if (isProtectedRoute(req)) await auth.protect();\n"
        "});\n\n"
        "export const config = {\n"
        "  matcher: [\n"
        "    // Skip Next.js internals and all static files, unless found in search params\n"
        f'    "{NEXT_MATCHER}",\n'
        "    // Always run for API routes\n"
        '    "/(api|trpc)(.*)",\n'
        "  ],\n"
        "};\n"
    )


def clerk_route(route: str) -> str:
    """A Next.js matcher path -> createRouteMatcher's pattern: `/dashboard/:path*` -> `/dashboard(.*)`
    (Clerk's docs write prefixes that way; it also matches `/dashboard` itself, as `:path*` does)."""
    for tail in ("/:path*", "/:path+", "/:slug*", "/:rest*"):
        if route.endswith(tail):
            return route[: -len(tail)] + "(.*)"
    return route


def app_advice(report) -> list:
    """Current advice for the scanned app, decided from its package.json versions."""
    from console.appscan.model import Advice
    from console.appscan.versions import CLERK_V6, CLERK_V7, AppVersions

    v: AppVersions = report.versions or AppVersions()
    out: list[Advice] = []
    where_pkg = (v.package_json,) if v.package_json else ()
    # 1. which @clerk/nextjs
    if v.clerk_spec:
        sdk = f"@clerk/nextjs {v.clerk_spec} is installed (Core {3 if v.core3 else 2})."
    elif v.core3:
        sdk = f"npm install @clerk/nextjs@{CLERK_V7} (Core 3): next {v.next_spec or '(not found)'} is 15.2.3 or later."
    else:
        sdk = (f"npm install @clerk/nextjs@{CLERK_V6} (Core 2): Core 3 needs Next.js 15.2.3+, "
               f"this app has next {v.next_spec}.")
    too_old = v.next_too_old_for_clerk()
    if too_old:
        sdk += " " + too_old[0].upper() + too_old[1:] + "."
    out.append(Advice(
        "clerk_sdk", "Which @clerk/nextjs", sdk,
        "Core 3 = @clerk/nextjs >= 7 with next >= 15.2.3; Core 2 = @clerk/nextjs 6 with next 13.5.7+/14.2.25+/15.2.3+",
        f"{CORE3_GUIDE} (Platform requirements); npm peerDependencies of @clerk/nextjs 7.9.17 and 6.39.8",
        where_pkg,
    ))
    # 2. env keys
    out.append(Advice(
        "env_keys", "Clerk's keys in .env.local",
        "Set NEXT_PUBLIC_CLERK_PUBLISHABLE_KEY and CLERK_SECRET_KEY in .env.local (from the Dashboard's API keys "
        "page); with your own sign-in page also NEXT_PUBLIC_CLERK_SIGN_IN_URL (and _SIGN_UP_URL). The NEXTAUTH_*/AUTH_* "
        "variables go once nothing reads them.",
        "every @clerk/nextjs version", QUICKSTART,
        code="NEXT_PUBLIC_CLERK_PUBLISHABLE_KEY=pk_...\nCLERK_SECRET_KEY=sk_...\n",
    ))
    # 3. provider
    if report.router in ("pages",):
        provider = "Wrap <Component {...pageProps} /> in pages/_app with <ClerkProvider {...pageProps}>."
    else:
        provider = ("Put <ClerkProvider> around <html> in app/layout.tsx (a server layout is fine); a SessionProvider "
                    "wrapper in a client component goes away.")
        if report.router == "both":
            provider += " Pages Router pages: <ClerkProvider {...pageProps}> in pages/_app."
    out.append(Advice("provider", "<ClerkProvider> at the root", provider, "every @clerk/nextjs version", QUICKSTART))
    # 4. middleware / proxy
    routes = [r.route for r in report.protected_routes if "(?!" not in r.route]
    file_name = v.middleware_file if v.proxy_named is not None else "proxy.ts (middleware.ts on Next.js <= 15)"
    mw = (f"Name the file {file_name} (next {v.next_spec or 'unknown'}), in src/ when the app uses src/. "
          "clerkMiddleware() must run on every route (Clerk's config.matcher below); protect the routes Auth.js "
          "protected with createRouteMatcher + auth.protect().")
    if v.core3:
        mw += (" @clerk/nextjs 7.9.17 marks createRouteMatcher deprecated in favour of checks where the data is read "
               "(await auth.protect() in each protected page, layout or route handler): the patch keeps the "
               "matcher so behaviour does not change, move the checks when you can.")
    out.append(Advice(
        "middleware_file", f"clerkMiddleware() in {file_name.split(' ')[0]}", mw,
        "Next.js >= 16: proxy.ts; Next.js <= 15: middleware.ts (the code is the same)",
        f"{QUICKSTART} ('If you're using Next.js <=15, name your file middleware.ts instead of proxy.ts'); "
        "@clerk/nextjs dist/types/server/routeMatcher.d.ts (7.9.17) for the deprecation",
        tuple(f"{r.file}:{r.line} {r.route}" for r in report.protected_routes),
        route_matcher_code(routes or ["/dashboard(.*)"], file_name.split(" ")[0]),
    ))
    # 5. conditional UI
    if v.core3:
        ui = ('<Show when="signed-in">...</Show> and <Show when="signed-out">...</Show> (also when={{ role: ... }} '
              'with a fallback); <SignedIn>, <SignedOut> and <Protect> are gone in Core 3: the names still import '
              "but throw when rendered.")
        applies = "@clerk/nextjs >= 7 (Core 3)"
        src = (f"{CORE3_GUIDE}; clerk/javascript .changeset/show-the-guards.md; "
               "packages/nextjs/src/removedControlComponents.ts")
    else:
        ui = "<SignedIn>...</SignedIn> and <SignedOut>...</SignedOut> (or <Protect>); they become <Show> in Core 3."
        applies = "@clerk/nextjs 6 (Core 2)"
        src = "clerk.com/docs (Core 2 control components); @clerk/nextjs 6.x exports"
    out.append(Advice("signed_in_ui", "Signed-in / signed-out UI", ui, applies, src))
    # 6. server helpers
    out.append(Advice(
        "server_helpers", "Reading the user on the server",
        "App Router (server components, route handlers, server actions): const { userId } = await auth() and "
        "await currentUser() for the profile, from @clerk/nextjs/server (auth() is async since @clerk/nextjs 6). "
        "Pages Router (API routes, getServerSideProps): const { userId } = getAuth(req) (getAuth(ctx.req)).",
        "@clerk/nextjs >= 6 (async auth()); getAuth(req) in every version",
        "@clerk/nextjs dist/types/server/index.d.ts (auth, currentUser, getAuth exports, 7.9.17); "
        "clerk.com/docs/references/nextjs/auth, /current-user, /get-auth",
    ))
    # 7. client hooks
    out.append(Advice(
        "client_hooks", "Reading the user in client components",
        "useAuth() -> { isLoaded, isSignedIn, userId }; useUser() -> { isLoaded, isSignedIn, user } with "
        "user.fullName, user.primaryEmailAddress?.emailAddress, user.imageUrl (was session.user.name/email/image). "
        'status === "loading" -> !isLoaded; status === "authenticated" -> isSignedIn.',
        "every @clerk/nextjs version", "clerk.com/docs/hooks/use-auth, /use-user; @clerk/nextjs root exports",
    ))
    # 8. sign-in UI
    out.append(Advice(
        "sign_in_ui", "Sign-in and sign-up",
        "Buttons: <SignInButton>, <SignUpButton>, <SignOutButton> wrap your own button (mode=\"modal\" for a modal); "
        "<UserButton /> for the account menu. Pages: <SignIn /> on app/sign-in/[[...sign-in]]/page.tsx and <SignUp /> on "
        "app/sign-up/[[...sign-up]]/page.tsx with NEXT_PUBLIC_CLERK_SIGN_IN_URL=/sign-in, or the Account Portal.",
        "every @clerk/nextjs version", QUICKSTART + "; @clerk/nextjs root exports (7.9.17)",
    ))
    # 9. the ids the app's tables keep
    ids = report.user_ids
    if ids is not None and ids.integer:
        out.append(Advice(
            "integer_user_ids", "Integer user ids: external_id alone breaks new sign-ups",
            "This app's user ids are integers. Imported users keep their old id as Clerk's external_id (and the "
            f"session claim {CLAIM} hands it to your code), but a user who signs up after the cut-over has only a "
            "Clerk id (user_...), which does not fit an integer column: inserts with it fail. Before the cut-over "
            "either rewrite the user-id columns to text holding Clerk ids (clerk-migrate export-ids --sql), or keep "
            "integer ids and give each new Clerk user one: a user.created webhook inserts the row, takes the next "
            "id from the sequence and sets it as the user's external_id (Backend API PATCH /users/{id}).",
            "any app whose users.id / userId columns are integers (pg adapter SERIAL, Prisma Int, Drizzle serial)",
            "Auth.js pg adapter schema (id SERIAL, \"userId\" INTEGER); Clerk user ids are strings (user_...)",
            tuple(ids.evidence[:10]),
        ))
    out.append(Advice(
        "foreign_keys", "Your tables' user ids after the import",
        f"Keep them: add the session claim {CLAIM} (Dashboard -> Sessions -> Customize session token) and read "
        "sessionClaims.userId instead of session.user.id; or rewrite the FK columns to Clerk ids (export-ids --sql).",
        "every @clerk/nextjs version", "clerk.com/docs/backend-requests/custom-session-token; docs/after-import.md",
    ))
    return out
