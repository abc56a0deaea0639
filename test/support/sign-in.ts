/** Password sign-in over HTTP from a chosen client address (the app must trust loopback: TRUST_PROXY=loopback). */
export function signInFrom(url: string, email: string, password: string, address: string) {
  return fetch(`${url}/trpc/auth.signIn`, {
    method: "POST",
    headers: { "content-type": "application/json", "x-forwarded-for": address },
    body: JSON.stringify({ json: { email, password } }),
  });
}

/** A response's status, its body discarded (so the connection is freed). */
export async function statusOf(response: Promise<Response>): Promise<number> {
  const r = await response;
  await r.body?.cancel();
  return r.status;
}
