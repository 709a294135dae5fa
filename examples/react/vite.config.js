import { defineConfig } from "vite";
import react from "@vitejs/plugin-react";

export default defineConfig({
  plugins: [react()],
  resolve: {
    // @gatehouse/client is linked from ../../clients/js, and a bundler
    // resolves the imports of a linked package from its real path, where
    // there is no React (its tests keep theirs apart): resolve them from
    // this app, so there is one React and @gatehouse/client/react finds it.
    dedupe: ["react", "react-dom"],
  },
  // One fixed origin for `npm run dev` and `npm run preview`, the one to
  // list in Gatehouse's --cors-origins.
  server: { host: "127.0.0.1", port: 5173, strictPort: true },
  preview: { host: "127.0.0.1", port: 5173, strictPort: true },
});
