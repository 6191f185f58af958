import { defineConfig } from "vite";
import react from "@vitejs/plugin-react";

// The build goes straight into the Python package, which serves it next to the API.
export default defineConfig({
  plugins: [react()],
  build: {
    outDir: "../backend/circuitscope/api/static",
    emptyOutDir: true,
    chunkSizeWarningLimit: 5000, // plotly is loaded lazily as its own chunk
  },
  server: {
    port: 5173,
    proxy: { "/api": "http://127.0.0.1:8000", "/docs": "http://127.0.0.1:8000", "/openapi.json": "http://127.0.0.1:8000" },
  },
});
