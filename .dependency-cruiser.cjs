/**
 * The layering rules `npm run lint` checks (dependency-cruiser): no cycle between the
 * folders of src/, and none between its modules.
 */
module.exports = {
  forbidden: [
    {
      name: 'no-folder-cycles',
      comment: 'A folder of src/ that needs another must not be needed by it, directly or through others: layers stay apart.',
      severity: 'error',
      scope: 'folder',
      from: { path: '^src/' },
      to: { circular: true },
    },
    {
      name: 'no-module-cycles',
      comment: 'Modules import each other one way only.',
      severity: 'error',
      from: { path: '^src/' },
      to: { circular: true },
    },
  ],
  options: {
    // Tests may reach into test/support; the layering is that of the product code.
    exclude: { path: '\\.test\\.tsx?$' },
    doNotFollow: { path: 'node_modules' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { extensions: ['.ts', '.tsx', '.js'] },
  },
};
