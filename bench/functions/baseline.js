// Baseline: the same function module served by Deno alone (Deno.serve on PORT, or on the unix
// socket SOCKET for the forwarding floor), no basalt.
const real = Deno.serve.bind(Deno);
const onListen = () => console.log("listening");
const socket = Deno.env.get("SOCKET");
Deno.serve = (...args) => {
  const handler = args.find((a) => typeof a === "function") ?? args.find((a) => a?.handler)?.handler;
  const where = socket ? { path: socket } : { hostname: "127.0.0.1", port: Number(Deno.env.get("PORT")) };
  return real({ ...where, onListen }, handler);
};
await import(Deno.env.get("ENTRY"));
