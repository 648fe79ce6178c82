/**
 * Builds the web console into dist/web, which the site daemon serves at `/`
 * (src/api/web-console.ts). Everything is bundled: sites often have no
 * internet, so no CDN fonts or scripts. `vite` (dev) proxies the API to a
 * running daemon: LIFELINE_SITE=http://127.0.0.1:8080 npx vite --config web/vite.config.ts
 */
import react from "@vitejs/plugin-react";
import { defineConfig } from "vite";

const root = new URL(".", import.meta.url).pathname;
const site = process.env.LIFELINE_SITE ?? "http://127.0.0.1:8080";

export default defineConfig({
  root,
  base: "/",
  plugins: [react()],
  build: {
    outDir: new URL("../dist/web", import.meta.url).pathname,
    emptyOutDir: true,
    sourcemap: true,
    chunkSizeWarningLimit: 1024,
  },
  server: { proxy: { "/api": site, "/metrics": site } },
});
