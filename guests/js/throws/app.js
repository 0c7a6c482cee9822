// A hostile JavaScript tool: its one tool throws an exception nobody catches. The host must
// report it as a trap that quotes the exception's message and stack (the guest's stderr).
export const tool = {
  listTools() {
    return [{ name: "throw", description: "Throws an uncaught TypeError.", inputSchema: "{}", outputSchema: undefined }];
  },
  call(name, ctx, args) {
    throw new TypeError(`uncaught in ${name}`);
  },
};
