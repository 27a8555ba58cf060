import diagnostics from 'node:diagnostics_channel';

/** `halfopen:idle-timeout:timeout`: every deadline that passed, with `{ info, socket, action }`. */
export const channels = {
  timeout: diagnostics.channel('halfopen:idle-timeout:timeout'),
};
