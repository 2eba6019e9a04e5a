// The REST API from the browser: the token (kept in sessionStorage, so it lives as long
// as the tab and never reaches disk), JSON requests, problem+json errors.

const TOKEN_KEY = "stepsize.token";

export function getToken() {
  return sessionStorage.getItem(TOKEN_KEY) || "";
}

export function setToken(token) {
  if (token) sessionStorage.setItem(TOKEN_KEY, token);
  else sessionStorage.removeItem(TOKEN_KEY);
}

/** An error answer: `status`, the problem document (`detail`, `code`, `errors`). */
export class ApiError extends Error {
  constructor(status, problem) {
    super(problem.detail || problem.title || `HTTP ${status}`);
    this.status = status;
    this.problem = problem;
  }
}

/** Calls `path` with the token; the parsed JSON answer. Throws ApiError on a 4xx/5xx,
 * TypeError when the server cannot be reached. */
export async function api(path, { method = "GET", body } = {}) {
  const headers = { Accept: "application/json" };
  const token = getToken();
  if (token) headers.Authorization = `Bearer ${token}`;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const response = await fetch(path, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  let parsed = null;
  try {
    parsed = text ? JSON.parse(text) : null;
  } catch {
    parsed = { detail: text.slice(0, 200) };
  }
  if (!response.ok) throw new ApiError(response.status, parsed || {});
  return parsed;
}

/** The same request as a Blob (for plot.svg, which an <img> could not fetch with a token). */
export async function apiBlob(path) {
  const token = getToken();
  const response = await fetch(path, { headers: token ? { Authorization: `Bearer ${token}` } : {} });
  if (!response.ok) throw new ApiError(response.status, { detail: await response.text() });
  return response.blob();
}

export function schedulePath(ref) {
  const [namespace, name] = ref.split("/");
  return `/v1/schedules/${encodeURIComponent(namespace)}/${encodeURIComponent(name)}`;
}

/** The pointer of an error inside the definition: "/body/definition/steps" -> "/steps". */
export function definitionPointer(path) {
  const prefix = "/body/definition";
  return path && path.startsWith(prefix) ? path.slice(prefix.length) || "/" : path || "/";
}
