// Vite builds and serves the React client (client/). In development it runs as
// Express middleware inside the app server, so there is one port.
import react from "@vitejs/plugin-react";
import { defineConfig } from "vite";

export default defineConfig({
  root: "client",
  plugins: [react()],
  build: { outDir: "../dist/client", emptyOutDir: true },
  logLevel: "warn",
});
