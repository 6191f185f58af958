// ESLint (flat config): JS + TypeScript recommended rules and the React hooks rules.
// Types are checked by `tsc --noEmit` (npm run typecheck); this catches what the compiler does not.
import js from "@eslint/js";
import reactHooks from "eslint-plugin-react-hooks";
import globals from "globals";
import tseslint from "typescript-eslint";

export default tseslint.config(
  { ignores: ["dist", "node_modules", "src/shared/api/schema.d.ts"] },
  {
    files: ["src/**/*.{ts,tsx}", "vite.config.ts"],
    extends: [js.configs.recommended, ...tseslint.configs.recommended],
    languageOptions: { ecmaVersion: 2020, globals: globals.browser },
    plugins: { "react-hooks": reactHooks },
    rules: {
      ...reactHooks.configs.recommended.rules,
      // unused names are compile errors already (tsconfig noUnusedLocals/Parameters)
      "@typescript-eslint/no-unused-vars": "off",
    },
  },
);
